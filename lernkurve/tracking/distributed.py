"""One run per torch.distributed job, every command on every rank at the same step.

- Rank 0 owns the run: it creates (or resumes) the row, and its writer writes points, events
  and heartbeats and hands over the app's commands. The other ranks attach to the run id that
  rank 0 broadcasts and never touch the database.
- The ranks meet at step boundaries about MEET_EVERY seconds apart (every boundary when steps
  are longer). At a meeting rank 0 sends how many commands it took from its inbox and the
  step of the meeting after next (int64s, asynchronously: they cross while the steps run);
  at the next meeting every rank receives them, and the commands themselves only when there
  are some. Every rank applies the same list at the same step, so the replicas stay bitwise
  equal, and the loop never waits at a boundary for the other ranks.
- A pause holds every rank in ``between_steps``, outside any collective of the script's. Rank 0
  broadcasts (an empty list, or the next command) every PAUSE_POLL seconds, far below any
  process group's timeout, so a pause lasts as long as the person wants.
- Agreement goes over the default group when it is gloo, else over a gloo group of its own: a
  CPU collective, so an NCCL job is not made to sync its device at every step.
- Checkpoints: rank 0 writes the file; at a resume every rank loads it (on several machines the
  checkpoint folder must be shared).
"""

from __future__ import annotations

import atexit
import math
import pickle
import socket
import sys
import threading
import time
from contextlib import contextmanager

from sqlalchemy import select, update

from lernkurve.store.models import RunRow
from lernkurve.tracking import resume
from lernkurve.tracking.buffer import RunBuffer
from lernkurve.tracking.commands import Commands
from lernkurve.tracking.lent import Lent
from lernkurve.tracking.livevalues import read_now
from lernkurve.tracking.run import Run

PAUSE_POLL = 0.2  # seconds between the ranks' meetings while paused
MEET_EVERY = 0.1  # seconds between meetings at least (every step when steps are longer)
MAX_SPACING = 1000  # steps between meetings at most
REDUCTIONS = ("mean", "sum", "min", "max")

_job: Job | None = None
_alone = threading.local()


@contextmanager
def this_rank_only():
    """Inside, ``lernkurve.init`` makes a plain run of this rank alone: for code that only
    rank 0 runs (a framework's rank-zero callback), which the other ranks could not meet."""
    before = getattr(_alone, "on", False)
    _alone.on = True
    try:
        yield
    finally:
        _alone.on = before


def job() -> Job | None:
    """The torch.distributed job this process is a rank of (None: no process group)."""
    global _job
    if getattr(_alone, "on", False):
        return None
    dist = sys.modules.get("torch.distributed")  # never imports torch: the server calls init too
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None  # a job of one rank is still a job: run.log(all_ranks=True) means the same
    if _job is None or _job.world is not dist.group.WORLD:  # a new process group: a new job
        if _job is None:
            atexit.register(_release_at_exit)  # before the runs' own handlers: it runs after them
        _job = Job(dist)
    return _job


def _release_at_exit() -> None:
    """Let go of the process groups while Python still runs: a gloo thread that lets go of our
    tensors during the interpreter's teardown aborts the process (lent.py)."""
    if _job is not None:
        _job.release()


class Job:
    """This process's place in the job, and the collectives the ranks agree through."""

    def __init__(self, dist) -> None:
        import torch

        self.dist = dist
        self.world = dist.group.WORLD
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.backend = str(dist.get_backend())
        self.group = None if self.backend == "gloo" else dist.new_group(backend="gloo")
        self._count = torch.zeros(3, dtype=torch.int64)  # commands, meeting after next, bytes
        self.lent = Lent()  # what the process group's threads may still hold (lent.py)
        self.broken = False  # a rank failed: its peers may never answer
        # The count goes straight to the process group: dist.broadcast's checks and logging
        # cost more than the broadcast itself at every step.
        self._pg = self.group or self.world
        self._from_rank0 = dist.BroadcastOptions()
        self._from_rank0.rootRank = 0
        self._from_rank0.rootTensor = 0
        self.inflight: tuple | None = None  # the count sent at the last meeting
        self.announced = 0  # the step of the meeting after next, as rank 0 last said

    def send(self, items: list | None, after: int = 0) -> None:
        """Start broadcasting how many ``items`` rank 0 has, ``after`` (the step of the meeting
        after next) and the size of the items pickled (int64s, asynchronous: they travel while
        the steps run); ``receive`` completes it."""
        count, payload = self._count, b""
        if self.rank == 0:
            payload = pickle.dumps(items) if items else b""
            count[0], count[1], count[2] = len(items), after, len(payload)
        work = self._pg.broadcast([count], self._from_rank0)
        self.lent.add(count)
        self.inflight = (work, payload)

    def receive(self) -> list:
        """Rank 0's items of the last ``send`` on every rank (the objects travel only if any)."""
        if self.inflight is None:
            return []
        (work, payload), self.inflight = self.inflight, None
        work.wait()
        items, self.announced, size = self._count.tolist()
        if not items:
            return []
        return pickle.loads(self._bytes_from_rank0(payload, size))  # noqa: S301 - from rank 0

    def _bytes_from_rank0(self, payload: bytes, size: int) -> bytes:
        import torch

        if self.rank == 0:
            box = torch.frombuffer(bytearray(payload), dtype=torch.uint8)
        else:
            box = torch.empty(size, dtype=torch.uint8)
        self._pg.broadcast([box], self._from_rank0).wait()
        self.lent.add(box)
        return box.numpy().tobytes()

    def broadcast(self, items: list | None) -> list:
        """Rank 0's ``items`` on every rank, now."""
        self.send(items)
        return self.receive()

    def settle(self) -> None:
        """Complete the count still under way (the run ended: nothing more is applied)."""
        if self.inflight is not None:
            self.inflight[0].wait()
            self.inflight = None

    def release(self) -> None:
        """Let the worker threads finish with our tensors, then drop every reference to the
        process groups and their work (the job is over)."""
        self.inflight = None
        if not self.broken:  # a lost peer may keep a collective waiting for its timeout
            self.lent.settle()
        self.world = self.group = self._pg = None

    def hosts(self) -> dict[str, list[int]]:
        """Every rank's host name, as host -> ranks (a collective: all ranks call it)."""
        names = [None] * self.world_size
        self.dist.all_gather_object(names, socket.gethostname(), group=self.group)
        hosts: dict[str, list[int]] = {}
        for rank, name in enumerate(names):
            hosts.setdefault(name, []).append(rank)
        return hosts

    def lead(self, run: LeaderRun) -> LeaderRun:
        """Rank 0: note the job in the run's config and tell the other ranks which run is theirs."""
        extra = {"world_size": self.world_size, "hosts": self.hosts(), "backend": self.backend}
        with run.db.write() as conn:
            config = conn.execute(select(RunRow.config).where(RunRow.id == run.id)).scalar()
            config = {**(config if isinstance(config, dict) else {}), **extra}
            conn.execute(update(RunRow).where(RunRow.id == run.id).values(config=config))
        start = {
            "id": run.id,
            "hparams": dict(run.hparams),
            "step": run.step,
            "total_steps": run.total_steps,
            "resume_from": run.resume_from,
        }
        self.broadcast([start])
        return run

    def follow(self, checkpoint_every: int | None) -> FollowerRun:
        """Ranks > 0: the run rank 0 created or resumed, obeying the same commands."""
        self.hosts()
        (start,) = self.broadcast(None)
        run = FollowerRun(
            None,
            start["id"],
            start["hparams"],
            step=start["step"],
            total_steps=start["total_steps"],
        )
        if start["resume_from"]:  # every rank loads the checkpoint rank 0 resumes from
            plan = resume.ResumePlan(run.id, start["step"], start["resume_from"])
            plan.state = resume.load_checkpoint(plan)
            run.begin_resume(plan)
        run.checkpoint_every = checkpoint_every
        return run

    def gather(self, scalars: dict, reduce: str | None) -> dict | None:
        """Every rank's values of the same keys, on rank 0: ``key/rank<i>`` each, or reduced."""
        import torch

        read_now(scalars)
        keys = sorted(scalars)
        values = torch.tensor([float(scalars[key]) for key in keys], dtype=torch.float64)
        parts = (
            [torch.empty_like(values) for _ in range(self.world_size)] if not self.rank else None
        )
        self.dist.gather(values, parts, dst=0, group=self.group)
        self.lent.add(values, *(parts or ()))
        if self.rank:
            return None
        if reduce is None:
            return {
                f"{key}/rank{r}": part[i].item()
                for r, part in enumerate(parts)
                for i, key in enumerate(keys)
            }
        stacked = torch.stack(parts)
        reduced = getattr(stacked, reduce)(dim=0)
        reduced = reduced.values if reduce in ("min", "max") else reduced
        return dict(zip(keys, reduced.tolist(), strict=True))


class JobCommands(Commands):
    """A rank's commands: only those every rank agreed on at a meeting are applied."""

    def __init__(self, run: JobRun) -> None:
        super().__init__(run)
        self.agreed: list = []  # what rank 0 sent at the last meeting, to apply now

    def take_all(self) -> list:
        """Rank 0: what its writer handed over since the last meeting, to send to every rank."""
        with self.cond:
            items = list(self.inbox)
            self.inbox.clear()
            self.signal = False
        return items

    def obey(self, step: int) -> None:
        """Apply the agreed commands; while paused, meet the other ranks every PAUSE_POLL s."""
        run = self.run
        items, self.agreed = self.agreed, []
        while True:
            for item in items:
                self.apply(step, *item)
            if self.stopping or not self.paused or self.step_budget:
                break
            run.status = "paused"
            if run.job.inflight is None:  # the same on every rank: they meet here
                if run.leads:
                    with self.cond:
                        if not self.inbox:
                            self.cond.wait(PAUSE_POLL)
                run.job.send(self.take_all() if run.leads else None)
            items = run.job.receive()
        if not self.stopping:
            run.status = "running" if not self.paused else "paused"


class JobRun(Run):
    """A rank's run: the plain Run, with commands agreed among the ranks at step boundaries."""

    leads = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.job = job()
        self._next_meeting = 0
        self._last_meeting: tuple[int, float] | None = None

    def _make_commands(self) -> JobCommands:
        return JobCommands(self)

    def log(
        self,
        data: dict | int | None = None,
        /,
        step: int | None = None,
        *,
        all_ranks: bool = False,
        reduce: str | None = None,
        **scalars,
    ) -> None:
        """Log from rank 0 (other ranks' calls do nothing), or with ``all_ranks=True`` gather
        the values of every rank (all ranks call it, same keys): stored as ``key/rank<i>``, or
        as one ``key`` with ``reduce="mean"`` (or sum, min, max)."""
        if reduce is not None and reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {', '.join(REDUCTIONS)}, got {reduce!r}")
        if all_ranks:
            if isinstance(data, dict):
                scalars = {**data, **scalars}
            elif data is not None:
                step = data
            scalars = self.job.gather(scalars, reduce)
            data = None
        if self.leads and scalars is not None:
            super().log(data, step=step, **scalars)

    def between_steps(self, step: int) -> bool:
        """At a meeting: apply what rank 0 took at the last one (every rank, this step) and
        send what it takes now, with the step of the meeting after next. Meetings are about
        MEET_EVERY seconds apart (every step when steps are longer); the count crosses while
        the steps run, so the loop never waits here for the other ranks."""
        job, commands = self.job, self.commands
        if job.inflight is not None and step < self._next_meeting:
            return super().between_steps(step)
        if job.inflight is None:  # the first boundary, or the first after a pause
            commands.agreed, self._next_meeting = [], step + 1
        else:
            commands.agreed, self._next_meeting = job.receive(), job.announced
        if self.leads:
            job.send(commands.take_all(), self._next_meeting + self._spacing(step))
        else:
            job.send(None)
        if commands.agreed:
            commands.signal = True
        return super().between_steps(step)

    def _spacing(self, step: int) -> int:
        """Steps between meetings (rank 0 decides): about MEET_EVERY seconds, at least one."""
        now = time.monotonic()
        last, self._last_meeting = self._last_meeting, (step, now)
        if last is None or step <= last[0]:
            return 1
        per_step = (now - last[1]) / (step - last[0])
        return max(1, min(MAX_SPACING, math.ceil(MEET_EVERY / max(per_step, 1e-6))))

    def _end(self, status: str, error: str | None = None) -> None:
        if status != "failed":  # a failing rank may have lost its peers: never wait for them
            self.job.settle()
        else:
            self.job.broken = True
        super()._end(status, error)


class LeaderRun(JobRun):
    """Rank 0's run: it owns the row, writes everything and reads the app's commands."""


class _NoWriter:
    """Ranks > 0 write nothing: rank 0's writer speaks for the job."""

    def wake(self) -> None:
        pass

    def backpressure(self, buffer: RunBuffer) -> None:
        pass

    def unregister(self, buffer: RunBuffer) -> None:
        pass


class FollowerRun(JobRun):
    """A rank > 0's run: the same id and commands as rank 0's, nothing written."""

    leads = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.buffer.forget_pending(gone=True)  # points, events, acks: rank 0 records them
        self.changes.warn_unused = False  # rank 0 says it once for the job

    def _register(self) -> _NoWriter:
        return _NoWriter()

    def save_checkpoint(self, step: int | None = None, *, by: dict | None = None) -> None:
        """Rank 0 writes the checkpoint; the replicas hold the same state."""
        return None
