"""Steers: ``set``, ``release``, ``pause|resume|step|stop|checkpoint``, ``lr-test``, ``race``,
``autopilot``; each a call to the REST route the page uses (its checks, its events)."""

from __future__ import annotations

import argparse

from lernkurve.cli_commands import format as fmt
from lernkurve.cli_commands.context import Context
from lernkurve.cli_commands.errors import CliError
from lernkurve.cli_commands.parser import run_id
from lernkurve.cli_commands.values import assignments, variants

ACTIONS = ("pause", "resume", "step", "stop", "checkpoint")
LR_TEST_RANGE = (1e-6, 1.0)  # within the run's own lr range where it has one


def add(sub, parent: argparse.ArgumentParser) -> None:
    """The steering commands' parsers."""
    p = sub.add_parser("set", parents=[parent], help="change live hparams: lr=3e-4 (x0.5: factor)")
    p.add_argument("run", type=run_id)
    p.add_argument("values", nargs="+", metavar="KEY=VALUE")
    p.add_argument("--mode", choices=("scale", "override"), help="lr: scale its schedule or pin")
    p.set_defaults(func=set_hparams)
    p = sub.add_parser("release", parents=[parent], help="hand a pinned lr back to its schedule")
    p.add_argument("run", type=run_id)
    p.add_argument("key", metavar="KEY", help="lr (the one value that can be pinned)")
    p.set_defaults(func=release)
    for action in ACTIONS:
        p = sub.add_parser(action, parents=[parent], help=f"{action} a live run")
        p.add_argument("run", type=run_id)
        p.set_defaults(func=control, action=action)
    _add_decisions(sub, parent)


def _add_decisions(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("lr-test", parents=[parent], help="an LR range test from where it is")
    p.add_argument("run", type=run_id)
    p.add_argument("--min", type=float, dest="min_lr")
    p.add_argument("--max", type=float, dest="max_lr")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--metric")
    p.set_defaults(func=lr_test)
    p = sub.add_parser("race", parents=[parent], help="race variants: lr=1e-3,3e-3 --steps N")
    p.add_argument("run", type=run_id)
    p.add_argument("values", nargs="+", metavar="KEY=V1,V2")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--metric")
    p.add_argument("--mode", choices=("min", "max"))
    p.set_defaults(func=race)
    p = sub.add_parser("autopilot", parents=[parent], help="the autopilot: on, off, undo")
    p.add_argument("run", type=run_id)
    p.add_argument("switch", choices=("on", "off", "undo"))
    p.set_defaults(func=autopilot)


def set_hparams(args: argparse.Namespace, ctx: Context) -> None:
    """``set RUN lr=3e-4``: PATCH /api/runs/<id>/hparams."""
    body = assignments(args.values)
    if args.mode:
        body["lr_mode"] = args.mode
    answer = ctx.api.call("PATCH", f"/runs/{args.run}/hparams", body)
    shown = {k: answer["hparams"].get(k) for k in body if k != "lr_mode"}
    ctx.emit(answer, f"run {args.run}: {fmt.hparams(shown)} {_when(answer)}")


def _when(answer: dict) -> str:
    deferred = answer.get("deferred")
    return f"(waits: {deferred})" if deferred else "(at its next step)"


def release(args: argparse.Namespace, ctx: Context) -> None:
    """``release RUN lr``: the control action ``release``."""
    if args.key != "lr":
        raise CliError(f"only lr can be pinned and released, not {args.key!r}", code=2)
    answer = ctx.api.call("POST", f"/runs/{args.run}/control", {"action": "release"})
    ctx.emit(answer, f"run {args.run}: lr goes back to its schedule {_when(answer)}")


def control(args: argparse.Namespace, ctx: Context) -> None:
    """``pause|resume|step|stop|checkpoint RUN``: POST /api/runs/<id>/control."""
    answer = ctx.api.call("POST", f"/runs/{args.run}/control", {"action": args.action})
    ctx.emit(answer, f"run {args.run}: {args.action} asked {_when(answer)}")


def lr_test(args: argparse.Namespace, ctx: Context) -> None:
    """``lr-test RUN``: from --min to --max (default: the run's lr range within 1e-6..1)."""
    low, high = lr_range(ctx.api.run(args.run))
    body = {"min_lr": _or(args.min_lr, low), "max_lr": _or(args.max_lr, high), "steps": args.steps}
    if args.metric:
        body["metric"] = args.metric
    answer = ctx.api.call("POST", f"/runs/{args.run}/lr_test", body)
    message = (
        f"run {args.run}: lr test from {body['min_lr']:g} to {body['max_lr']:g} over "
        f"{args.steps} steps on {answer['metric']} (run {answer['run_id']}); "
        f"`lernkurve events {args.run}` shows its result"
    )
    ctx.emit(answer, message)


def _or(given: float | None, default: float) -> float:
    return default if given is None else given


def lr_range(run: dict) -> tuple[float, float]:
    """The lr test's default range: the run's lr range (its row) within LR_TEST_RANGE."""
    spec = (((run.get("config") or {}).get("schema") or {}).get("lr")) or {}
    low, high = LR_TEST_RANGE
    low = max(low, spec["min"]) if isinstance(spec.get("min"), int | float) else low
    high = min(high, spec["max"]) if isinstance(spec.get("max"), int | float) else high
    return low, high


def race(args: argparse.Namespace, ctx: Context) -> None:
    """``race RUN lr=1e-3,3e-3 --steps N``: POST /api/runs/<id>/race."""
    body = {"variants": variants(args.values), "steps": args.steps}
    body.update({k: getattr(args, k) for k in ("metric", "mode") if getattr(args, k)})
    answer = ctx.api.call("POST", f"/runs/{args.run}/race", body)
    names = ", ".join(fmt.hparams(v) for v in body["variants"])
    message = f"run {args.run}: race of {names} over {args.steps} steps on {answer['metric']}"
    ctx.emit(answer, message)


def autopilot(args: argparse.Namespace, ctx: Context) -> None:
    """``autopilot RUN on|off|undo``: PATCH /api/runs/<id>/autopilot."""
    body = {"undo": True} if args.switch == "undo" else {"enabled": args.switch == "on"}
    answer = ctx.api.call("PATCH", f"/runs/{args.run}/autopilot", body)
    done = "undo asked" if args.switch == "undo" else f"autopilot {args.switch}"
    ctx.emit(answer, f"run {args.run}: {done} (at its next step)")
