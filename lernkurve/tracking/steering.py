"""Live optimizer changes applied where they count: right before ``optimizer.step()``.

A script's LR schedule (a torch scheduler, or code writing ``param_group["lr"]`` itself) owns
each group's *base* lr. A change from the app either **scales** that schedule from the step it
lands on (effective = base × factor) or **overrides** it (pinned until released). A step
pre-hook on the optimizer re-applies the steer after the schedule has written its value, so the
value the optimizer uses is the one the page shows. Group shapes hold: every group keeps its
ratio to the others, and a group with weight decay or momentum 0 stays at 0.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from typing import Any

LR_KEYS = ("lr",)
GROUP_KEYS = ("weight_decay", "momentum")
# What capture() leaves out: the optimizer and hooks are the live objects, not the steer's state.
NOT_CAPTURED = ("optimizer", "_hook", "on_script_write")


def _read(group: dict, key: str) -> float | None:
    """A group's value for key (Adam's beta1 stands for momentum); None when it has none."""
    if key == "momentum" and "momentum" not in group and "betas" in group:
        return float(group["betas"][0])
    value = group.get(key)
    return None if value is None else float(value)


def _write(group: dict, key: str, value: float) -> None:
    if key == "momentum" and "momentum" not in group and "betas" in group:
        group["betas"] = (value, group["betas"][1])
        return
    current = group.get(key)
    if hasattr(current, "fill_"):  # a tensor lr (capturable/fused optimizers): keep the tensor
        current.fill_(value)
    else:
        group[key] = value


def _ratios(values: list[float | None]) -> list[float]:
    """Each group's value relative to the first non-zero one (all 1 when every group is 0)."""
    reference = next((v for v in values if v), None)
    if reference is None:
        return [1.0] * len(values)
    return [(v or 0.0) / reference for v in values]


class OptimizerSteering:
    """Steers one optimizer's lr (against its schedule), weight decay and momentum."""

    def __init__(self, optimizer: Any, schedulers: list | tuple = (), state: dict | None = None):
        self.optimizer = optimizer
        self.mode = "scale"  # or "override"
        self.factor = 1.0  # effective = schedule × factor (scale mode)
        self.pinned: float | None = None  # the first group's lr while overridden
        # (schedule value, asked value) of the last scale change: while the schedule has not
        # moved, the first group uses exactly the asked value (base × new/base can round).
        self._asked: tuple[float, float] | None = None
        self.scheduled = bool(schedulers)  # a schedule has been seen writing lr
        self.effective: list[float] = []  # each group's lr as last written
        self.used: list[float] = []  # each group's lr at the last optimizer.step() not yet logged
        lrs = [_read(g, "lr") or 0.0 for g in optimizer.param_groups]
        self._base = list(lrs)  # what the schedule set, per group
        self._written = list(lrs)  # what this class last wrote, per group
        self._lr_ratios = _ratios(lrs)
        self._group_ratios = {
            key: _ratios([_read(g, key) for g in optimizer.param_groups]) for key in GROUP_KEYS
        }
        self._stale = True  # a change not written to the groups yet (apply_lr clears it)
        # Called when the script wrote an lr of its own into a group (a surface that must know
        # whether the loop feeds a live value to the optimizer itself: wandbsurface).
        self.on_script_write: Callable[[], None] | None = None
        if state:
            self._restore(state)
        self._warned_unpassed = bool(schedulers)
        self._hook = optimizer.register_step_pre_hook(self._before_step)
        for scheduler in schedulers:
            self._wrap_scheduler(scheduler)

    # -- what the optimizer uses ---------------------------------------------------------------

    def _target(self, index: int) -> float:
        if self.mode == "override" and self.pinned is not None:
            base0 = self._base[0]
            ratio = self._base[index] / base0 if base0 else self._lr_ratios[index]
            return self.pinned * ratio
        if index == 0 and self._asked and self._asked[0] == self._base[0]:
            return self._asked[1]
        return self._base[index] * self.factor

    def _grow(self) -> None:
        """Groups added with add_param_group after watch() join with their own lr as base."""
        for group in self.optimizer.param_groups[len(self._base) :]:
            lr = _read(group, "lr") or 0.0
            self._base.append(lr)
            self._written.append(lr)
            self._lr_ratios.append(lr / self._base[0] if self._base[0] else 1.0)
            for key, ratios in self._group_ratios.items():
                ratios.append(1.0 if _read(group, key) else 0.0)

    def _before_step(self, optimizer, args, kwargs) -> None:
        if self._steady(optimizer.param_groups):
            self.used = self.effective  # (never changed in place: apply_lr makes a new list)
            return
        self._warn_if_scheduler_unpassed()
        self._grow()
        wrote = False
        for index, group in enumerate(optimizer.param_groups):
            current = _read(group, "lr")
            if current != self._written[index]:  # the schedule (or the script) set a new lr
                self._base[index] = current
                self.scheduled = wrote = True
        if wrote and self.on_script_write is not None:
            self.on_script_write()
        self.apply_lr()
        self.used = list(self.effective)

    def _steady(self, groups: list) -> bool:
        """Nothing to do before this step: no change since apply_lr, and every group still
        holds the float lr written then (no schedule or script wrote one). The hot path: the
        training loop pays for this check at every step."""
        written = self._written
        if self._stale or len(groups) != len(written):
            return False
        for group, lr in zip(groups, written, strict=True):
            current = group.get("lr")
            if type(current) is not float or current != lr:
                return False
        return True

    def apply_lr(self) -> None:
        """Write the steered lr into every group now."""
        effective = []
        for index, group in enumerate(self.optimizer.param_groups):
            target = self._target(index)
            if target != _read(group, "lr"):
                _write(group, "lr", target)
            self._written[index] = _read(group, "lr")  # as read back: a float32 tensor rounds
            effective.append(self._written[index])
        self.effective = effective
        self._stale = False

    def _wrap_scheduler(self, scheduler: Any) -> None:
        """Let a torch scheduler step from its own values, then steer what it produced.

        Chainable schedulers (cosine, exponential, step) compute the next lr from the group's
        current one; stepping them from a scaled lr would compound the factor every step.
        """
        steering, cls = self, type(scheduler)

        def step(sched, *args, **kwargs):
            groups = steering.optimizer.param_groups
            for index, group in enumerate(groups):
                _write(group, "lr", steering._base[index])
            try:
                return cls.step(sched, *args, **kwargs)
            finally:
                steering._base = [_read(g, "lr") for g in groups]
                steering._written = list(steering._base)
                steering.apply_lr()

        # A subclass, not an instance attribute: a scheduler's state_dict() is its __dict__, and
        # a function there can neither be saved (torch.save) nor survive load_state_dict().
        scheduler.__class__ = type(
            cls.__name__, (cls,), {"step": step, "__module__": cls.__module__}
        )

    def _warn_if_scheduler_unpassed(self) -> None:
        if self._warned_unpassed:
            return
        self._warned_unpassed = True
        if hasattr(self.optimizer.step, "_wrapped_by_lr_sched"):
            self.unpassed_scheduler_warning = (
                "lernkurve: a torch LR scheduler drives this optimizer but was not given to "
                "run.watch(model, optimizer, scheduler=...); lr changes may compound with it"
            )
            print(self.unpassed_scheduler_warning, file=sys.stderr)

    # -- changes from the app -------------------------------------------------------------------

    def current_lr(self) -> float:
        """The first group's lr as it stands now (what the page shows)."""
        return self._target(0) if self._base else 0.0

    def set_lr(self, new: float | None, mode: str = "scale", relative: float | None = None) -> dict:
        """Steer lr to ``new``, or by the factor ``relative``; returns the event's details.

        Scale mode moves the factor on the schedule (``relative`` multiplies it exactly, at
        whatever value the schedule has when the change lands); override pins a value. A
        factor asked for while lr is pinned scales the pinned value and keeps it pinned.
        """
        old = self.current_lr()
        if mode == "scale" and relative is None and not self._base[0]:
            mode = "override"  # a schedule at 0 (warm-up start) cannot be scaled to a value
        if relative is not None and self.mode == "override" and self.pinned is not None:
            new, mode, relative = self.pinned * relative, "override", None
        self._asked = None
        if mode == "override":
            self.mode, self.pinned = "override", float(new)
            detail = {"mode": "override"}
        else:
            scaled = self._base[0] * self.factor  # the schedule's value as scaled now
            self.mode, self.pinned = "scale", None
            if relative is not None:
                change = relative
                self.factor *= relative
            else:  # from the schedule itself: a factor of 0 (lr set to 0) can rise again
                change = new / scaled if scaled else None
                self.factor = new / self._base[0]
                self._asked = (self._base[0], float(new))
            detail = {"mode": "scale", "factor": self.factor, "change": change}
        self.apply_lr()
        return {**detail, "old": old, "new": self.current_lr()}

    def release(self) -> dict:
        """Hand a pinned lr back to the schedule, with the factor it had before the pin."""
        old = self.current_lr()
        self.mode, self.pinned, self._asked = "scale", None, None
        self.apply_lr()
        return {"mode": "release", "factor": self.factor, "old": old, "new": self.current_lr()}

    def hand_over(self) -> None:
        """The loop feeds the steered lr into the optimizer itself from now on (a wandb-style
        ``g["lr"] = config.lr``): no factor or pin of ours on top, or a change counts twice."""
        self.mode, self.factor, self.pinned, self._asked = "scale", 1.0, None, None
        self._stale = True

    def set_group_value(self, key: str, new: float) -> None:
        """Set weight decay or momentum, keeping each group's ratio (0 stays 0)."""
        ratios = self._group_ratios[key]
        for group, ratio in zip(self.optimizer.param_groups, ratios, strict=False):
            if _read(group, key) is None:
                continue
            value = new * ratio if key == "weight_decay" else (new if ratio else 0.0)
            _write(group, key, value)

    def group_value(self, key: str) -> float | None:
        """The value of the first group that uses key (the one the page shows)."""
        values = [_read(g, key) for g in self.optimizer.param_groups]
        return next((v for v in values if v), values[0] if values else None)

    # -- pictures and checkpoints ---------------------------------------------------------------

    def describe(self) -> dict:
        """The optimizer snapshot the page shows: per-group values and the lr mode."""
        groups = [
            {key: _read(g, key) for key in ("lr", *GROUP_KEYS)} for g in self.optimizer.param_groups
        ]
        return {
            "groups": groups,
            "lr_mode": self.mode,
            "lr_factor": self.factor,
            "scheduled": self.scheduled,
        }

    def state_dict(self) -> dict:
        return {
            "mode": self.mode,
            "factor": self.factor,
            "pinned": self.pinned,
            "base": list(self._base),
            "scheduled": self.scheduled,
            "lr_ratios": list(self._lr_ratios),
            "group_ratios": {k: list(v) for k, v in self._group_ratios.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Take a saved steer (from state_dict) and apply it to the optimizer now."""
        self._restore(state)
        self.apply_lr()

    def _restore(self, state: dict) -> None:
        self.mode, self.factor, self.pinned = state["mode"], state["factor"], state["pinned"]
        self.scheduled = state.get("scheduled", False)
        self._base = list(state["base"])
        self._lr_ratios = list(state["lr_ratios"])
        self._group_ratios = {k: list(v) for k, v in state["group_ratios"].items()}
        self._written = [_read(g, "lr") for g in self.optimizer.param_groups]
        self._stale = True

    def capture(self) -> dict:
        """The steer as it stands, copied (a trial or the autopilot goes back to it exactly)."""
        return copy.deepcopy({k: v for k, v in vars(self).items() if k not in NOT_CAPTURED})

    def restore(self, captured: dict) -> None:
        """Back to a ``capture()``, applied to the optimizer now."""
        vars(self).update(copy.deepcopy(captured))
        self.apply_lr()

    def remove(self) -> None:
        self._hook.remove()
