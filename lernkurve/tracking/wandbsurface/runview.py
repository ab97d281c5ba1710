"""The run a wandb script holds (``wandb.init()``'s answer, ``wandb.run``) over a Lernkurve
``Run``: wandb's ``log`` steps, ``config``, ``summary``, ``watch``, ``define_metric``,
``alert`` and ``finish``; anything else the Run has is the Run's (``steps``,
``save_checkpoint`` ...), and what neither has warns once by name.

Every committed step is a step boundary: there the app's commands take effect (pause holds
the script in ``log``). A stop from the app ends the run ``stopped`` and raises ``Stopped``
(a KeyboardInterrupt) from that ``log`` call, so the script ends as after Ctrl-C.
"""

from __future__ import annotations

import atexit
import sys
from collections.abc import Mapping
from typing import Any

from lernkurve.shared.hparams import schema_from_config
from lernkurve.shared.names import name_problem
from lernkurve.store.media import run_media_dir
from lernkurve.tracking.livevalues import read_now
from lernkurve.tracking.wandbsurface import rows
from lernkurve.tracking.wandbsurface.config import WandbConfig, live_keys
from lernkurve.tracking.wandbsurface.names import unsupported, warn_once
from lernkurve.tracking.wandbsurface.record import Recorder, split
from lernkurve.tracking.wandbsurface.stepper import Stepper, flat_copy
from lernkurve.tracking.wandbsurface.summary import Summary, aggregates
from lernkurve.tracking.wandbsurface.watching import LazyWatch, modules_of

# wandb.watch(log=...): (gradient norms and update ratios, weight and gradient percentiles)
WATCH_LOG = {"gradients": (True, False), "parameters": (False, True), "all": (True, True)}


class Stopped(KeyboardInterrupt):
    """The app stopped the run; raised from ``log`` so the script ends as after Ctrl-C."""


class ScriptExit(Exception):
    """``finish(exit_code=N)`` with N other than 0: the run is marked failed."""


class WandbRun:
    """A Lernkurve run as wandb's ``Run``; ``.lernkurve`` is the Run itself."""

    def __init__(
        self,
        run: Any,
        name: str,
        about: dict | None = None,
        *,
        auto_live: bool = False,
        resumed: bool = False,
        adopted: bool = False,
    ) -> None:
        self.lernkurve = self._run = run
        self._name, self._about = name, dict(about or {})
        self._auto_live, self.resumed, self.adopted = auto_live, resumed, adopted
        self.config = WandbConfig(run.hparams, self._new_keys, self._read)
        self.summary = Summary(self._store_summary)
        self._stepper = Stepper(self._commit, run.step)
        self._recorder = Recorder(run, lambda: run_media_dir(run.db, run.id))
        self._watch: LazyWatch | None = None
        self._watch_every: tuple = (None, None)
        self._fed: set[str] = set()  # live keys the loop itself feeds into its optimizer
        self._finished = False
        record = getattr(run, "lr_record", None)
        if record is not None and not adopted:
            record.mirror = None  # wandb's config holds values asked for, not each step's lr
        atexit.register(self._at_exit)

    # -- what wandb scripts read -------------------------------------------------------------

    @property
    def id(self) -> str:
        """The run's id, as text (wandb's ids are text; Lernkurve's the number in it)."""
        return str(self._run.id)

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        problem = name_problem(value)
        if problem is not None:
            warn_once("run.name = ...", f"was refused ({problem})")
            return
        rows.rename(self._run.db, self._run.id, value)
        self._name = value

    @property
    def step(self) -> int:
        """The step the next ``log`` call commits at."""
        return self._stepper.step

    project = property(lambda self: self._about.get("project"))
    group = property(lambda self: self._about.get("group"))
    job_type = property(lambda self: self._about.get("job_type"))
    notes = property(lambda self: self._about.get("notes"))
    tags = property(lambda self: tuple(rows.clean_tags(self._about.get("tags")) or ()))
    dir = property(lambda self: str(run_media_dir(self._run.db, self._run.id)))
    entity = url = sweep_id = None
    offline = disabled = False

    @property
    def path(self) -> str:
        return f"{self.project or 'lernkurve'}/{self.id}"

    def _repr_html_(self) -> str | None:
        """In a notebook, the run's live dashboard (as the Run shows itself)."""
        return self._run._repr_html_()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        run = self.__dict__.get("_run")
        if run is not None and hasattr(run, name):
            return getattr(run, name)
        return unsupported(f"run.{name}")

    # -- logging ---------------------------------------------------------------------------

    def log(
        self,
        data: Any = None,
        step: int | None = None,
        commit: bool | None = None,
        sync: bool | None = None,
        **scalars: Any,
    ) -> None:
        """wandb's ``log(dict, step=, commit=)``; ``log(step, key=value)`` is ``Run.log``."""
        if type(data) is not dict and not isinstance(data, Mapping) or scalars:
            self._run.log(data, step=step, **scalars)
            return
        if self._finished:
            warn_once("run.log() after finish()", "is ignored")
            return
        values = flat_copy(data)
        read_now(values)  # tensors as they are now; an accelerator's read later, no sync
        self._stepper.log(values, step, commit)

    def _commit(self, step: int, values: dict, next_step: int | None) -> None:
        run = self._run
        if values:
            scalars, rest = split(values)
            if scalars:
                run.log(scalars, step=step)
                self.summary.observe(scalars)
            for key, value in rest:
                self._recorder.record(key, value, step)
        if next_step is None:
            return
        if self._watch is not None:
            self._watch.tidy()
        if not run.between_steps(next_step):
            self._stop()
        self._stepper.step = run.step  # a trial that ended here moved the counter

    def _stop(self) -> None:
        print(
            f"lernkurve: run {self.id} was stopped in the app; the script ends here, as after "
            "Ctrl-C",
            file=sys.stderr,
        )
        self.finish()
        raise Stopped(f"run {self.id} was stopped in Lernkurve")

    # -- config ------------------------------------------------------------------------------

    def _new_keys(self, new: dict) -> None:
        """Keys a script adds to its config join the run (live if init named none live)."""
        run = self._run
        schema = schema_from_config(new, live_keys(new) if self._auto_live else None)
        run.schema.update(schema)
        run.hparams.update(new)
        run.buffer.add("config", {"schema": schema})

    def _read(self, key: str) -> None:
        """The loop reads ``key`` (steering lr) each step. If it also writes an lr of its own
        into the optimizer, that lr comes from this value, the steered one: from then on the
        loop feeds it, applied once. A loop that only reads it (prints it) stays steered."""
        if key in self._fed or not self._run.hparams.started:
            return
        changes = getattr(self._run, "changes", None)
        if changes is None or changes.key_map.get(key) != "lr":
            return
        steering = getattr(self._run, "steering", None)
        if steering is not None and steering.on_script_write is None:
            steering.on_script_write = lambda: self._hand_over(key)

    def _hand_over(self, key: str) -> None:
        """The loop feeds ``key`` into the optimizer itself: an app change goes into the
        config only, with no factor of ours on top (a change before this steered it too)."""
        self._fed.add(key)
        self._run.changes.key_map.pop(key, None)
        steering = self._run.steering
        steering.on_script_write = None
        steering.hand_over()
        record = getattr(self._run, "lr_record", None)
        if record is not None and record.mirror == key:
            record.mirror = None

    # -- watch, metrics, alerts ----------------------------------------------------------------

    def watch(
        self,
        models: Any = None,
        criterion: Any = None,
        log: str | None = "gradients",
        log_freq: int = 1000,
        idx: int | None = None,
        log_graph: bool = False,
        **native: Any,
    ) -> None:
        """wandb's ``watch``; ``watch(model, optimizer, ...)`` is ``Run.watch``."""
        if native or hasattr(criterion, "param_groups") or hasattr(criterion, "optimizer"):
            self._run.watch(models, criterion, **native)
            return
        if log not in WATCH_LOG and log is not None:
            warn_once(f"watch(log={log!r})", "is not one of gradients, parameters, all")
        grads, hists = WATCH_LOG.get(log, (False, False))
        every = max(1, int(log_freq or 1))
        self._watch_every = (every if grads else None, every if hists else None)
        from lernkurve.tracking.wrapped import real_module

        found = [real_module(m) for m in modules_of(models) if m is not None]
        if self._watch is None:
            self._watch = LazyWatch(found, self._attach)
        else:
            self._watch.add(found)

    def _attach(self, model: Any, optimizer: Any) -> None:
        if self._run.optimizer is None:  # a script that called Run.watch itself keeps its own
            grads, hists = self._watch_every
            self._run.watch(model, optimizer, log_grads=grads, log_histograms=hists)

    def unwatch(self, models: Any = None) -> None:
        """Stop measuring gradients (the optimizer stays steered)."""
        if self._watch is not None:
            self._watch.remove()
        health = getattr(self._run, "grad_health", None)
        if health is not None:
            health.remove()

    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
        **ignored: Any,
    ) -> None:
        """Which folds of ``name`` (a glob too) the summary keeps; stored in the run's config."""
        self.summary.define(name, aggregates(summary, goal))
        spec = {"summary": summary, "step_metric": step_metric, "goal": goal, "hidden": hidden}
        spec = {key: value for key, value in spec.items() if value is not None}
        self._run.buffer.add("config", {"metrics": {name: spec}})

    def alert(self, title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
        """A note event at the current step (and a line on stderr)."""
        level = str(getattr(level, "value", level) or "INFO")
        message = f"{title}: {text}"
        payload = {"message": message, "title": str(title), "text": str(text), "level": level}
        self._run.event("note", {**payload, "by": "alert"})
        print(f"lernkurve: alert ({level}): {message}", file=sys.stderr)

    def _store_summary(self, values: dict) -> None:
        if not self._finished:
            self._run.buffer.add("config", {"summary": values})

    # -- ending --------------------------------------------------------------------------------

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """End the run: completed (stopped if the app stopped it), failed for an exit code."""
        if not self._close():
            return
        if self._run.ended.is_set():
            return
        if exit_code:
            self._run.fail(ScriptExit(f"finish(exit_code={exit_code})"))
        else:
            self._run.finish()

    def _close(self) -> bool:
        """Commit what waits and store the summary; False if that was done before."""
        if self._finished:
            return False
        self._stepper.close()
        self._finished = True
        atexit.unregister(self._at_exit)
        if self._watch is not None:
            self._watch.remove()
        final = self.summary.final()
        if final:
            self._run.buffer.add("config", {"summary": final})
        return True

    def _at_exit(self) -> None:
        """The script ends without finish(): the Run's own exit handler says how it ended."""
        self._close()

    def __enter__(self) -> WandbRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._close() and not self._run.ended.is_set():
            self._run.__exit__(exc_type, exc, tb)
