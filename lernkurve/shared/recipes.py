"""Recipes: a run's applied changes as a schedule (step → command) that another run replays."""

from __future__ import annotations

import json
from pathlib import Path

from lernkurve.shared.hparams import HParamError, validate_changes

COMMAND_KINDS = ("hparams", "release")
MAX_STEPS = 10_000  # entries in one recipe
LR_MODES = ("scale", "override")


class RecipeError(ValueError):
    """A recipe that cannot be replayed; the message says which entry and why."""


def from_events(events: list[dict]) -> dict:
    """``{"steps": [{"step", "command"}]}`` from a run's events (its applied changes, in order)."""
    steps = []
    for event in events:
        command = _command_of(event)
        if command is not None:
            steps.append({"step": event["step"], "command": command})
    return {"steps": steps}


def _command_of(event: dict) -> dict | None:
    payload = event.get("payload") or {}
    if event["kind"] == "hparams" and payload.get("mode") == "release":
        return {"kind": "release", "payload": {}}
    if event["kind"] != "hparams" or not payload.get("changes"):
        return None
    values = {key: change[1] for key, change in payload["changes"].items()}
    values.update(payload.get("asked") or {})  # a factor replays as a factor
    if "lr" in values and payload.get("mode") in LR_MODES:
        values["lr_mode"] = payload["mode"]
    return {"kind": "hparams", "payload": values}


def checked(recipe, schema: dict | None = None, end: int | None = None) -> dict:
    """A recipe in its one shape, or RecipeError naming what is wrong (with ``schema``: also
    a change the run does not accept live; with ``end``: a step past the run's planned end,
    which would stretch every chart of the run to it)."""
    if isinstance(recipe, list):
        recipe = {"steps": recipe}
    if not isinstance(recipe, dict) or not isinstance(recipe.get("steps"), list):
        raise RecipeError('a recipe is {"steps": [{"step": n, "command": {...}}, ...]}')
    if len(recipe["steps"]) > MAX_STEPS:
        raise RecipeError(f"a recipe holds at most {MAX_STEPS} steps")
    entries = [_checked_entry(i, entry, schema) for i, entry in enumerate(recipe["steps"])]
    late = next((i for i, e in enumerate(entries) if end is not None and e["step"] >= end), None)
    if late is not None:
        step = entries[late]["step"]
        raise RecipeError(f"recipe step {late}: step {step} is past the run's end ({end} steps)")
    return {"steps": sorted(entries, key=lambda e: e["step"])}


def _checked_entry(index: int, entry, schema: dict | None) -> dict:
    where = f"recipe step {index}"
    if not isinstance(entry, dict) or not isinstance(entry.get("command"), dict):
        raise RecipeError(f'{where}: must be {{"step": n, "command": {{"kind", "payload"}}}}')
    step = entry.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < 2**62:
        raise RecipeError(f"{where}: step must be a whole number ≥ 0")
    kind, payload = entry["command"].get("kind"), entry["command"].get("payload", {})
    if kind not in COMMAND_KINDS:
        raise RecipeError(f"{where}: command kind must be one of {', '.join(COMMAND_KINDS)}")
    if not isinstance(payload, dict):
        raise RecipeError(f"{where}: payload must be an object")
    if payload.get("lr_mode", "scale") not in LR_MODES:
        raise RecipeError(f"{where}: lr_mode must be scale or override")
    if schema is not None:
        values = {k: v for k, v in payload.items() if k != "lr_mode"}
        try:
            validate_changes(schema, None, values)
        except HParamError as err:
            raise RecipeError(f"{where}: {err.message}") from err
    return {"step": step, "command": {"kind": kind, "payload": dict(payload)}}


def load(recipe, schema: dict | None = None, end: int | None = None) -> dict:
    """What ``lernkurve.init(recipe=...)`` takes: the dict, its list, or a JSON file's path."""
    if isinstance(recipe, (str, Path)):
        try:
            recipe = json.loads(Path(recipe).read_text())
        except (OSError, ValueError) as err:
            raise RecipeError(f"cannot read the recipe {recipe}: {err}") from err
    return checked(recipe, schema, end)
