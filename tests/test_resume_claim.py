"""A resume claims a dead process's run even when the app marks that run `interrupted` between
reading it and claiming it (seconds after a kill -9, as the app's sweep does); a run another
process has taken meanwhile is still refused. In-process, on a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from lernkurve.store.models import RunRow, now
from lernkurve.tracking import client, resume
from lernkurve.web.streamer import mark_interrupted

pytestmark = pytest.mark.postgres

AT = (40, "/checkpoints/epoch=0-step=40.ckpt", "lightning")  # a framework's own checkpoint


def killed_run(db_path) -> tuple:
    """A run still marked running whose process is gone (no heartbeat for a minute)."""
    db = client.open_database(db_path)
    row = db.insert_run(name="killed", task="script", status="running", hparams={"lr": 0.1})
    with db.Session() as session:
        stamp = now() - 60.0
        session.execute(update(RunRow).where(RunRow.id == row.id).values(heartbeat_at=stamp))
        session.commit()
    return db, row.id


def status(db, run_id: int) -> str:
    with db.Session() as session:
        return session.get(RunRow, run_id).status


def test_the_apps_sweep_between_plan_and_claim_does_not_turn_the_resume_away(db_path):
    db, run_id = killed_run(db_path)
    plan = resume.plan(db, run_id, AT)
    assert mark_interrupted(db, timeout=0.0) == 1 and status(db, run_id) == "interrupted"
    resume.claim(db, plan)
    assert status(db, run_id) == "running"
    resume.restore(db, plan)  # a resume that fails later puts back the row it claimed
    assert status(db, run_id) == "interrupted"


def test_a_run_another_process_took_meanwhile_is_still_refused(db_path):
    db, run_id = killed_run(db_path)
    mine, theirs = resume.plan(db, run_id, AT), resume.plan(db, run_id, AT)
    resume.claim(db, theirs)  # the other process (this one's pid: alive) owns it now
    with pytest.raises(resume.ResumeError, match="still alive"):
        resume.claim(db, mine)
    assert status(db, run_id) == "running"
