"""Hypothesis drives a user's script with any order of trials and commands (race, lr test,
checkpoint, pause, resume, step, hparams, stop, kill -9) and checks that the run stays itself:
its weights go on from where its own last step left them, every step used the lr its events
say, its points are each step once, its checkpoints hold its own weights at their step, and
no trial is left waiting."""

from __future__ import annotations

import hashlib
import signal
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from scripting import Scripts

from lernkurve.store.database import Database
from lernkurve.web.streamer import mark_interrupted
from support import ROOT, wait_for

TRIAL = ROOT / "tests" / "scripts" / "trial.py"
FIRST_LR = 0.01  # the script's configured lr
ACCEPTED = {202, 409}  # a trial is taken, or refused because another one runs
STEPS = st.integers(10, 60)  # a trial's length: the script saves a checkpoint every 7 steps


def digest(tensors) -> str:
    """The script's own digest of a model's parameters (tests/scripts/trial.py)."""
    sha = hashlib.sha256()
    for tensor in tensors:
        sha.update(tensor.detach().contiguous().numpy().tobytes())
    return sha.hexdigest()[:16]


class TrialMachine(RuleBasedStateMachine):
    def __init__(self, api, scripts, db_path, counter) -> None:
        super().__init__()
        self.api, self.db_path = api, db_path
        counter.append(1)
        self.proc, self.run_id, self.records = scripts(
            "100000", "0.004", "--save-every", "7", record=f"record-{len(counter)}.jsonl"
        )
        self.records.wait_past(5)
        api.wait_logged(self.run_id, "loss")
        self.by_kill = self.killed = False

    def url(self, tail: str) -> str:
        return f"/api/runs/{self.run_id}/{tail}"

    @rule(steps=STEPS)
    def race(self, steps):
        body = {"variants": [{"lr": 0.002}, {"lr": 0.05}], "steps": steps, "metric": "loss"}
        answer = self.api.post(self.url("race"), json=body)
        assert answer.status_code in ACCEPTED, answer.get_json()

    @rule(steps=STEPS)
    def lr_test(self, steps):
        body = {"min_lr": 1e-4, "max_lr": 0.5, "steps": steps}
        answer = self.api.post(self.url("lr_test"), json=body)
        assert answer.status_code in ACCEPTED, answer.get_json()

    @rule(action=st.sampled_from(["checkpoint", "pause", "resume", "step"]))
    def control(self, action):
        answer = self.api.control(self.run_id, action)
        assert answer.status_code == 202, answer.get_json()

    @rule(lr=st.sampled_from([0.001, 0.004, 0.02, 0.05]))
    def set_lr(self, lr):
        answer = self.api.patch(self.url("hparams"), json={"lr": lr})
        assert answer.status_code in (200, 202), answer.get_json()
        assert (answer.status_code == 202) == ("deferred" in answer.get_json())

    @rule(seconds=st.sampled_from([0.05, 0.3, 0.8]))
    def train_a_while(self, seconds):
        time.sleep(seconds)

    @initialize(by_kill=st.booleans(), trial=st.sampled_from(["race", "lr_test"]), steps=STEPS)
    def begin(self, by_kill, trial, steps):
        """Every sequence starts with a trial (what the rest must not be corrupted by) and
        ends with a stop from the app or with kill -9."""
        self.by_kill = by_kill
        getattr(self, trial)(steps)

    def stop(self):
        assert self.api.control(self.run_id, "stop").status_code == 202
        self.proc.communicate(timeout=60)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=60)
        db = Database(self.db_path)
        wait_for(lambda: mark_interrupted(db, timeout=0.0) or self.status() == "interrupted")
        db.dispose()

    def status(self) -> str:
        return self.api.run(self.run_id)["status"]

    def teardown(self):
        self.killed = self.by_kill
        self.kill() if self.by_kill else self.stop()
        records = self.records.all()
        own = [r for r in records if not r["trial"]]
        tried = [r for r in records if r["trial"]]
        self.check_weights_go_on(own, tried)
        self.check_lr_follows_events(own)
        self.check_points(own)
        self.check_checkpoints(own)
        self.check_nothing_waits(own)

    def check_weights_go_on(self, own, tried):
        """Each own step starts from the last one's weights; after a race, from a variant's."""
        for before, after in zip(own, own[1:], strict=False):
            if after["step"] == before["step"] + 1:
                assert after["params"] == before["after"], (before, after)
            else:  # a race: the run goes on at its end with the winner's weights
                assert after["step"] > before["step"], (before, after)
                ends = {r["after"] for r in tried if r["step"] == after["step"] - 1}
                assert after["params"] in ends, (before, after)

    def check_lr_follows_events(self, own):
        events = sorted(self.api.events(self.run_id, "hparams"), key=lambda e: (e["step"], e["id"]))

        def lr_at(step: float) -> float:
            lr = FIRST_LR
            for event in events:
                if event["step"] <= step and "lr" in event["payload"]["changes"]:
                    lr = event["payload"]["changes"]["lr"][1]
            return lr

        # After kill -9 only what reached the database can be asked of it: an event goes in
        # the transaction of the step's point, and both die with the process if not flushed.
        stored = {step for step, _, _ in self.api.points(self.run_id, "loss")}
        for record in own:
            if self.killed and record["step"] not in stored:
                continue
            assert record["lr"] == pytest.approx(lr_at(record["step"])), record
        if not self.killed:
            assert self.api.run(self.run_id)["hparams"]["lr"] == pytest.approx(lr_at(2**62))

    def check_points(self, own):
        steps = [step for step, _, _ in self.api.points(self.run_id, "loss")]
        assert len(steps) == len(set(steps)), "a step logged twice"
        assert set(steps) == set(range(len(steps))), "a hole in the run's points"
        last = own[-1]["step"]
        if self.killed:  # what the script had not flushed is gone with it; nothing else
            assert len(steps) <= last + 1
        else:
            assert len(steps) == last + 1
        events = self.api.events(self.run_id)
        assert all(e["step"] <= last + 1 for e in events), "an event at a trial's step"

    def check_checkpoints(self, own):
        """A checkpoint at step s holds the weights the run had before its own step s."""
        at = {r["step"]: r["params"] for r in own}
        at_end = {r["step"] + 1: r["after"] for r in own}
        listed = self.api.get(self.url("checkpoints")).get_json()["checkpoints"]
        for checkpoint in listed:
            state = torch.load(Path(checkpoint["path"]), weights_only=True)
            expected = at.get(checkpoint["step"], at_end.get(checkpoint["step"]))
            assert expected is not None, checkpoint
            assert digest(state["model"].values()) == expected, checkpoint["step"]

    def check_nothing_waits(self, own):
        run = self.api.run(self.run_id)
        assert run["status"] == ("interrupted" if self.killed else "stopped")
        assert run["step"] <= own[-1]["step"] + 1
        children = [r for r in self.api.runs() if r["parent_id"] == self.run_id]
        assert all(c["status"] not in ("queued", "running") for c in children), children
        assert all(c["parent_step"] <= run["step"] for c in children if c["parent_step"]), children


@pytest.mark.sqlite_only  # kill -9 and the mark of a dead run read the SQLite file
def test_no_order_of_trials_and_commands_makes_the_run_inconsistent(
    api, db_path, data_dir, tmp_path
):
    counter: list[int] = []
    with Scripts(TRIAL, db_path, data_dir, tmp_path) as scripts:
        run_state_machine_as_test(
            lambda: TrialMachine(api, scripts, db_path, counter),
            settings=settings(
                max_examples=5,
                stateful_step_count=10,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
