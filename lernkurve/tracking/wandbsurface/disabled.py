"""wandb's ``mode="disabled"``: a run whose every method and attribute works and does
nothing; its config still answers with the values it was given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lernkurve.shared.configs import flatten
from lernkurve.tracking.livevalues import LiveConfig
from lernkurve.tracking.wandbsurface.config import WandbConfig
from lernkurve.tracking.wandbsurface.names import Silent
from lernkurve.tracking.wandbsurface.stepper import Stepper, flat_copy
from lernkurve.tracking.wandbsurface.summary import Summary


class DisabledRun:
    """Counts steps as wandb does and keeps config and summary in memory; nothing else."""

    disabled = True
    offline = resumed = adopted = False
    project = group = job_type = notes = entity = url = sweep_id = None
    tags: tuple = ()
    id = "disabled"

    def __init__(self, config: Any = None, name: str | None = None) -> None:
        self.name = name or "disabled"
        self.config = WandbConfig(LiveConfig(flatten(config)[0]))
        self.summary = Summary()
        self._stepper = Stepper(lambda step, values, next_step: None)
        self._finished = False

    @property
    def step(self) -> int:
        return self._stepper.step

    def log(
        self,
        data: Any = None,
        step: int | None = None,
        commit: bool | None = None,
        sync: bool | None = None,
        **scalars: Any,
    ) -> None:
        if isinstance(data, Mapping):
            self._stepper.log(flat_copy(data), step, commit)

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        self._finished = True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return Silent(name)

    def __enter__(self) -> DisabledRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.finish()
