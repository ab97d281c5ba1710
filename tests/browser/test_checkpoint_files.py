"""The checkpoints list: each one's size on disk, the run's total, and deleting one."""

from __future__ import annotations

import pytest

from lernkurve.shared.hparams import defaults
from lernkurve.shared.taskspecs import task_schema
from lernkurve.store.models import Checkpoint

pytestmark = pytest.mark.browser


@pytest.fixture
def stored(dashboard, tmp_path):
    """A stopped spiral run with a 1 kB file checkpoint, a 2.5 MB Hugging Face folder one and
    one whose file is not on this machine; returns (run id, their paths)."""
    database = dashboard.server.app.extensions["lernkurve"].db
    schema = task_schema("spiral")
    run = database.insert_run(
        name="saved", task="spiral", status="stopped", hparams=defaults(schema),
        config={"schema": schema},
    )  # fmt: skip
    folder = tmp_path / "ckpts"
    (folder / "checkpoint-20").mkdir(parents=True)
    (folder / "step-10.pt").write_bytes(b"x" * 1000)
    (folder / "checkpoint-20" / "model.safetensors").write_bytes(b"y" * 2_400_000)
    (folder / "checkpoint-20" / "optimizer.pt").write_bytes(b"z" * 100_000)
    paths = [folder / "step-10.pt", folder / "checkpoint-20", folder / "gone.pt"]
    with database.Session() as session:
        for index, path in enumerate(paths):
            session.add(Checkpoint(run_id=run.id, step=10 * (index + 1), path=str(path)))
        session.commit()
    return run.id, paths


def sizes(page) -> list[str]:
    return page.locator("#ckpt-list .ckpt-size").all_inner_texts()


def answer_dialog(page, accept: bool = True) -> list[str]:
    """Answer the next confirm(); the list gets its text."""
    seen = []

    def handle(dialog):
        seen.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.once("dialog", handle)
    return seen


def test_sizes_show_and_a_checkpoint_is_deleted_from_the_page(dashboard, stored):
    page, api = dashboard.page, dashboard.api
    run_id, paths = stored
    dashboard.open_run(run_id)
    items, total = page.locator("#ckpt-list li"), page.locator("#ckpt-total")
    dashboard.wait_for(lambda: items.count() == 3)
    assert sizes(page) == ["1 kB", "2.5 MB", "not on this machine"]
    assert total.inner_text() == "Checkpoints: 3 · 2.5 MB (1 not on this machine)"

    # Cancelled: nothing happens.
    asked = answer_dialog(page, accept=False)
    page.get_by_role("button", name="Delete the checkpoint at step 20").click()
    dashboard.wait_for(lambda: asked)
    assert paths[1].is_dir() and items.count() == 3

    asked = answer_dialog(page)
    page.get_by_role("button", name="Delete the checkpoint at step 20").click()
    dashboard.wait_for(lambda: items.count() == 2)
    assert asked == ["Delete the checkpoint at step 20 (2.5 MB)? Its file is removed from disk."]
    assert not paths[1].exists() and paths[0].is_file()
    assert sizes(page) == ["1 kB", "not on this machine"]
    assert total.inner_text() == "Checkpoints: 2 · 1 kB (1 not on this machine)"
    assert [c["step"] for c in api.checkpoints(run_id)] == [10, 30]


def test_a_checkpoint_a_fork_needs_is_refused_with_the_reason(dashboard, stored):
    page = dashboard.page
    run_id, paths = stored
    dashboard.open_run(run_id)
    items = page.locator("#ckpt-list li")
    dashboard.wait_for(lambda: items.count() == 3)
    # A fork queued after the page listed the checkpoints (no worker claims a script's run).
    database = dashboard.server.app.extensions["lernkurve"].db
    child = database.insert_run(
        name="fork", task="script", status="queued", config={"resume_from": str(paths[0])}
    ).id
    reason = f"run {child} (queued) is a fork that starts from this checkpoint"

    answer_dialog(page)
    delete = page.get_by_role("button", name="Delete the checkpoint at step 10")
    with page.expect_response(lambda r: r.request.method == "DELETE") as refused:
        delete.click()
    assert refused.value.status == 409
    note = items.nth(0).locator(".ckpt-note")
    dashboard.wait_for(lambda: note.inner_text() == reason)
    assert note.get_attribute("role") == "alert" and delete.is_disabled()
    assert paths[0].is_file() and items.count() == 3
    dashboard.forget_errors("status of 409")

    # Deleted elsewhere: the list follows, and says from the start why step 10 must stay.
    gone = dashboard.api.checkpoints(run_id)[2]["id"]
    assert dashboard.api.delete(f"/api/runs/{run_id}/checkpoints/{gone}").status_code == 204
    dashboard.wait_for(lambda: items.count() == 2)
    assert note.inner_text() == reason and delete.is_disabled()
    total = page.locator("#ckpt-total")
    assert total.inner_text() == "Checkpoints: 2 · 2.5 MB"

    page.get_by_role("button", name="Language").click()
    page.locator("#lang-menu [data-lang='de']").click()
    dashboard.wait_for(lambda: total.inner_text() == "Checkpoints: 2 · 2,5 MB")
    assert sizes(page) == ["1 kB", "2,5 MB"]
    assert page.get_by_role("button", name="Den Checkpoint bei Schritt 20 löschen").is_enabled()
