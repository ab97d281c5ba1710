"""``lernkurve.init``: Lernkurve's own ``init`` (lernkurve.tracking.client), or, given one of
wandb's arguments (``project=``, ``tags=``, ``mode=``, ``id=``, ``resume="allow"`` ...) or
called in a module that wrote ``import lernkurve as wandb``, a run that acts as wandb's.

A wandb script names no live keys: then every number and flag of its config is live. wandb's
``id`` is a Lernkurve run id as text; ``resume="allow"``/``"must"``/``True`` with one
continues that run from the step it reached (the script restores its own state, as with
wandb); an unknown id is an error for ``"must"`` and a new run otherwise.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from lernkurve.shared.configs import as_mapping, flatten
from lernkurve.store.database import shown_url
from lernkurve.tracking import client
from lernkurve.tracking.resume import ResumeError
from lernkurve.tracking.wandbsurface import current, rows
from lernkurve.tracking.wandbsurface.config import live_keys
from lernkurve.tracking.wandbsurface.disabled import DisabledRun
from lernkurve.tracking.wandbsurface.names import warn_once
from lernkurve.tracking.wandbsurface.runview import WandbRun

# Lernkurve's own keyword arguments (db, total_steps, checkpoint_every ...): client.init's.
OWN = ("name", "config", "live", "schema", "resume")
NATIVE = tuple(p for p in inspect.signature(client.init).parameters if p not in OWN)
# wandb's arguments that mean nothing for a local run: accepted without a word.
QUIET = frozenset(
    {
        "entity", "dir", "reinit", "save_code", "settings", "anonymous", "force", "magic",
        "allow_val_change", "config_exclude_keys", "config_include_keys",
    }
)  # fmt: skip
MODES = (None, "online", "offline", "shared", "disabled")
RESUME_WORDS = ("allow", "must", "auto")


def init(
    name: str | None = None,
    config: Any = None,
    live: list[str] | None = None,
    schema: dict | None = None,
    *,
    project: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    tags: Any = None,
    notes: str | None = None,
    id: str | int | None = None,
    resume: Any = None,
    mode: str | None = None,
    **options: Any,
) -> Any:
    """Start a run: ``lernkurve.tracking.client.init`` (every argument of it), or wandb's
    ``init`` (module docstring); an argument neither knows warns once by name."""
    native = {key: options.pop(key) for key in NATIVE if key in options}
    about = {"project": project, "group": group, "job_type": job_type, "tags": tags, "notes": notes}
    wandb_style = (
        options
        or id is not None
        or mode is not None
        or not _native_resume(resume)
        or any(value is not None for value in about.values())
        or _imported_as_wandb(sys._getframe(1))
    )
    if not wandb_style:
        run = client.init(name, config, live, schema, resume=resume, **native)
        current.adopt(run)
        return run
    for key in options.keys() - QUIET:
        warn_once(f"init({key}=...)")
    if mode == "disabled":
        run = DisabledRun(config, name)
        current.hold(run)
        return run
    if mode not in MODES:
        warn_once(f"init(mode={mode!r})", "is taken as offline: every run is local")
    previous = _previous(options.get("reinit"))
    if previous is not None:
        return previous
    config = _selected(config, options)
    return _wandb_run(name, config, live, schema, about, id, resume, native)


def _native_resume(resume: Any) -> bool:
    return resume is None or isinstance(resume, int) and not isinstance(resume, bool)


def _imported_as_wandb(frame: Any) -> bool:
    """The caller's module (or function) holds this package under the name ``wandb``."""
    package = sys.modules.get("lernkurve")
    return package is not None and package in (
        frame.f_globals.get("wandb"),
        frame.f_locals.get("wandb"),
    )


def _selected(config: Any, options: dict) -> Any:
    """wandb's ``config_include_keys`` / ``config_exclude_keys`` (top-level keys)."""
    include, exclude = options.get("config_include_keys"), options.get("config_exclude_keys")
    if config is None or not (include or exclude):
        return config
    mapping = dict(as_mapping(config) or {})
    return {
        k: v
        for k, v in mapping.items()
        if (not include or k in include) and not (exclude and k in exclude)
    }


def _previous(reinit: Any) -> Any:
    """wandb's default: a new init finishes the run before it (``reinit="return_previous"``
    keeps it); runs started the native way go on."""
    previous = current.get()
    if previous is None or previous.adopted:
        return None
    if reinit == "return_previous":
        return previous
    previous.finish()
    return None


def _wandb_run(name, config, live, schema, about, run_id, resume, native) -> WandbRun:
    """A new run, or the one wandb's ``id``/``resume`` name, as wandb's run."""
    target = None if _native_resume(resume) else _resume_target(native, run_id, resume)
    auto = live is None and schema is None
    if target is not None:
        metrics = native.get("system_metrics", True)
        run = client.continue_run(*target, "", "wandb", db=native.get("db"), system_metrics=metrics)
    else:
        live = live_keys(flatten(config)[0]) if auto else live
        checkpoint = resume if _native_resume(resume) else None  # init(resume=RUN_ID)
        run = client.init(name, config, live, schema, resume=checkpoint, **native)
    title = rows.describe(run.db, run.id, about) if run.db is not None else str(run.id)
    resumed = target is not None or resume is not None and _native_resume(resume)
    view = WandbRun(run, title, about, auto_live=auto, resumed=resumed)
    if target is not None and config is not None:
        view.config.setdefaults(config)  # keys the run did not have yet join it
    current.hold(view)
    return view


def _resume_target(native: dict, run_id: Any, resume: Any) -> tuple[int, int] | None:
    """(run id, step it goes on at) of the run wandb's ``id``/``resume`` name; None: a new run."""
    if resume is False or resume == "never":
        return None
    word = "allow" if resume is True else str(resume)
    if word not in RESUME_WORDS:
        warn_once(f"init(resume={resume!r})", "is taken as 'allow'")
        word = "allow"
    if run_id is None:
        if word == "must":
            raise ResumeError("init(resume='must') needs id=: the Lernkurve run to continue")
        warn_once("init(resume=...) without id=", "starts a new run (give id=RUN_ID)")
        return None
    database = client.open_database(native.get("db"))
    text = str(run_id).strip()
    row = rows.row_of(database, int(text)) if text.isdigit() else None
    if row is None:
        if word == "must":
            raise ResumeError(
                f"init(resume='must', id={run_id!r}): there is no run {text!r} in "
                f"{shown_url(database.url)}; Lernkurve's run ids are numbers (run.id)"
            )
        return None
    return row.id, row.step
