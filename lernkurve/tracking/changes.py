"""Changing a run's live hyperparameters: the live config, and the optimizer where a key steers
one (lr against its schedule, weight decay and momentum keeping their groups' shape)."""

from __future__ import annotations

import sys
from typing import Any

from lernkurve.shared.marks import marked, unmarked
from lernkurve.tracking.steering import GROUP_KEYS

# The optimizer setting a live key steers; run.watch(..., map=...) adds a script's own names.
DEFAULT_KEY_MAP = {"lr": "lr", "momentum": "momentum", "weight_decay": "weight_decay"}


class LiveChanges:
    """Applies changes to ``run.hparams`` and ``run.steering``; events say what changed."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.key_map = dict(DEFAULT_KEY_MAP)
        self.warn_unused = True  # distributed: only rank 0 says it, once for the job
        self._warned: set[str] = set()

    def map_keys(self, mapping: dict) -> None:
        """Tie a script's own config names to optimizer settings, e.g. ``{"lr_max": "lr"}``."""
        targets = set(DEFAULT_KEY_MAP.values())
        for key, target in mapping.items():
            if target not in targets:
                raise ValueError(f"map: {key!r} must map to one of {', '.join(sorted(targets))}")
            if key not in self.run.hparams:
                raise ValueError(f"map: {key!r} is not a key of this run's config")
        self.key_map.update(mapping)

    def apply(self, step: int, payload: dict) -> None:
        """An hparams command: change the values and record the event at ``step``."""
        source = marked(payload)  # a recipe's, the autopilot's or a client's change says so
        payload = unmarked(payload)
        mode = payload.pop("lr_mode", "scale")
        details = self.set(payload, mode)
        if details is None:
            return
        for key in details["changes"]:
            self._warn_if_unused(key, step)
        self.run.event("hparams", {**details, **source}, step)

    def set(self, values: dict, mode: str = "scale") -> dict | None:
        """Change live values (the optimizer's too) now; the event's details, None if no change.

        A value may be ``{"scale": f}``: the value as it stands when the change lands, times f
        (for a steered lr: its schedule's factor times f, exactly).
        """
        live = self.run.hparams
        scales = {k: float(v["scale"]) for k, v in values.items() if isinstance(v, dict)}
        wanted = {k: live.peek(k) * scales[k] if k in scales else v for k, v in values.items()}
        changes = {k: [live.peek(k), v] for k, v in wanted.items() if live.peek(k) != v}
        if not changes:
            return None
        details = self.steer({k: wanted[k] for k in changes}, mode, scales)
        for key, (_, new) in changes.items():
            live[key] = new
        if "lr" in details:
            lr = details.pop("lr")
            if "lr" in changes:  # the optimizer's own lr: as used (the schedule's, steered)
                changes["lr"] = [lr["old"], lr["new"]]
                live["lr"] = lr["new"]
            details.update({k: v for k, v in lr.items() if k not in ("old", "new")})
        if scales:
            details["asked"] = {k: {"scale": f} for k, f in scales.items() if k in changes}
        self.run.lr_record.snapshot()
        return {"changes": changes, **details}

    def steer(self, values: dict, mode: str, scales: dict | None = None) -> dict:
        """Apply changed values to the watched optimizer; returns details for the event."""
        steering = self.run.steering
        if steering is None:
            return {}
        details, scales = {}, scales or {}
        for key, new in values.items():
            target = self.key_map.get(key)
            if target == "lr":
                old = self.run.hparams.peek(key)
                relative = scales.get(key)
                if relative is None and key != "lr" and mode != "override" and old:
                    relative = new / old  # the script's own name for lr: its ratio steers
                details["lr"] = steering.set_lr(new, mode, relative)
            elif target in GROUP_KEYS:
                steering.set_group_value(target, new)
        return details

    def release(self, step: int, payload: dict) -> None:
        """Hand a pinned lr back to its schedule; nothing to release says so in a note."""
        run, steering = self.run, self.run.steering
        if steering is None or steering.mode != "override":
            message = "release: lr is not pinned, so there is nothing to release"
            run.event("note", {"message": message}, step)
            return
        details = steering.release()
        if "lr" in run.hparams:
            run.hparams["lr"] = details["new"]
        changes = {"lr": [details.pop("old"), details.pop("new")]}
        run.event("hparams", {"changes": changes, **details, **marked(payload)}, step)
        run.lr_record.snapshot()

    def _warn_if_unused(self, key: str, step: int) -> None:
        """A live key that steers no optimizer and that the loop never reads does nothing."""
        run = self.run
        if key in self.key_map and run.steering is not None or key in run.hparams.read_keys:
            return
        if key in self._warned or not self.warn_unused:
            return
        self._warned.add(key)
        message = (
            f"{key} changed, but nothing uses it: the script has not read run.config[{key!r}] "
            f"since training started and no optimizer setting is tied to it "
            f"(run.watch(model, optimizer, map={{{key!r}: 'lr'}}) ties it to one)"
        )
        print(f"lernkurve: {message}", file=sys.stderr)
        run.event("note", {"message": message, "key": key}, step)
