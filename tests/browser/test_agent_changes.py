"""A change an AI agent (or the terminal) made shows who made it and why on the run's page,
and one click takes it back (real browser, real server, a live script run)."""

from __future__ import annotations

from script_runs import ScriptRun


def test_an_agents_change_says_why_and_is_undone_from_the_page(dashboard):
    from lernkurve.store.agentaccess import save_access

    server, page = dashboard.server, dashboard.page
    save_access(server.app.extensions["lernkurve"].db, steer=True)
    script = ScriptRun(server.db_path, "steered", {"lr": 0.1}, ["lr"])
    try:
        dashboard.wait_for(lambda: server.api.run(script.run.id)["step"] > 3)
        dashboard.open_run(script.run.id)
        agent = {"X-Lernkurve-By": "agent", "X-Lernkurve-Reason": "the loss is flat since 40"}
        answer = server.api.patch(
            f"/api/runs/{script.run.id}/hparams", json={"lr": 0.05}, headers=agent
        )
        assert answer.status_code == 200, answer.get_json()
        row = page.locator("#events-list li[data-by='agent']")
        row.wait_for()
        assert "Agent" in row.locator(".event-by").inner_text()
        assert row.locator(".event-reason").inner_text() == "“the loss is flat since 40”"
        row.locator(".event-undo").click()
        dashboard.wait_for(lambda: server.api.run(script.run.id)["hparams"]["lr"] == 0.1)
        undone = [
            e for e in server.api.events(script.run.id, "hparams") if "by" not in e["payload"]
        ]
        assert undone[-1]["payload"]["changes"]["lr"] == [0.05, 0.1]
        page.locator("#events-list li[data-kind='hparams']:not([data-by])").wait_for()
        assert row.locator(".event-undo").is_disabled()  # drawn again, still taken back once
        assert row.locator(".event-undo").inner_text() == "Undone."
    finally:
        script.finish()
