"""TensorBoard scripts in Lernkurve: a drop-in ``SummaryWriter``.

A script that logs to TensorBoard appears in Lernkurve by changing one import::

    from lernkurve.tensorboard import SummaryWriter   # was: from torch.utils.tensorboard import ...
"""

from __future__ import annotations

import os
import socket
import warnings
from datetime import datetime

from lernkurve.shared.configs import flatten


class SummaryWriter:
    """``torch.utils.tensorboard.SummaryWriter``'s scalar calls, into a Lernkurve run.

    add_scalar, add_scalars, add_hparams, flush and close work as in TensorBoard; any other
    method is accepted and ignored, with one warning. ``writer.run`` is the Lernkurve run.

    The first value logged at a new ``global_step`` marks the end of that step: there the app's
    commands take effect (pause holds the script in that call; with
    ``writer.run.watch(model, optimizer)`` lr changes reach the optimizer from the next step).
    A stop from the app sets ``writer.should_stop``; a loop that checks it ends cleanly.
    """

    def __init__(
        self,
        log_dir: str | None = None,
        comment: str = "",
        purge_step: int | None = None,
        max_queue: int = 10,
        flush_secs: int = 120,
        filename_suffix: str = "",
        *,
        config: dict | None = None,
        live: list[str] | None = None,
        db: str | None = None,
    ) -> None:
        from lernkurve.tracking import client

        if log_dir:
            name = os.path.basename(os.path.normpath(log_dir))
        else:  # TensorBoard's own default: runs/<date>_<host><comment>
            name = datetime.now().strftime("%b%d_%H-%M-%S") + "_" + socket.gethostname() + comment
        self.log_dir = log_dir or os.path.join("runs", name)
        self.run = client.init(name=name, config=config or {}, live=live, db=db)
        self._warned = False
        self._closed = False
        self._last_step: int | None = None
        self.should_stop = False

    def _step(self, global_step) -> int:
        if global_step is None:
            return self._last_step or 0
        step = int(global_step)
        if self._last_step is None or step > self._last_step:
            self._last_step = step
            # between this step and the next: the app's commands take effect here
            if not self.run.between_steps(step + 1):
                self.should_stop = True
            self.run.step = step  # the app shows the last step logged
        return step

    def add_scalar(
        self,
        tag: str,
        scalar_value,
        global_step: int | None = None,
        walltime: float | None = None,
        new_style: bool = False,
        double_precision: bool = False,
    ) -> None:
        self.run.log({tag: scalar_value}, step=self._step(global_step))

    def add_scalars(
        self,
        main_tag: str,
        tag_scalar_dict: dict,
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Each value as ``main_tag/tag``: one chart panel per main tag."""
        values = {f"{main_tag}/{tag}": value for tag, value in tag_scalar_dict.items()}
        self.run.log(values, step=self._step(global_step))

    def add_hparams(
        self,
        hparam_dict: dict,
        metric_dict: dict,
        hparam_domain_discrete: dict | None = None,
        run_name: str | None = None,
        global_step: int | None = None,
    ) -> None:
        """The hparams become the run's values; the metrics are logged at ``global_step``."""
        self.run.hparams.update(flatten(hparam_dict)[0])
        if metric_dict:
            self.run.log(dict(metric_dict), step=self._step(global_step))

    def flush(self) -> None:
        """Nothing to do: Lernkurve writes points every 50 ms on its own."""

    def close(self) -> None:
        """End the run as completed, with every point written."""
        if not self._closed:
            self._closed = True
            self.run.finish()

    def get_logdir(self) -> str:
        return self.log_dir

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None and not isinstance(exc, KeyboardInterrupt):
            self._closed = True
            self.run.fail(exc)
        self.close()

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def ignored(*args, **kwargs) -> None:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"lernkurve.tensorboard.SummaryWriter keeps scalars only: {name} and the "
                    "other non-scalar calls are ignored",
                    UserWarning,
                    stacklevel=2,
                )

        return ignored
