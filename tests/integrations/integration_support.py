"""What the integration tests share: training in a thread, steered through the real REST API."""

from __future__ import annotations

import threading
import time

from support import wait_for


class Background:
    """``fn()`` in a thread; ``join()`` re-raises what it raised."""

    def __init__(self, fn) -> None:
        self.error: BaseException | None = None
        self.result = None
        self.thread = threading.Thread(target=self._main, args=(fn,), daemon=True)
        self.thread.start()

    def _main(self, fn) -> None:
        try:
            self.result = fn()
        except BaseException as exc:  # handed to the test's thread
            self.error = exc

    def join(self, timeout: float = 60.0):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "training did not end"
        if self.error is not None:
            raise self.error
        return self.result


def only_run(api) -> dict:
    """The one run in the database, once it exists."""
    return wait_for(lambda: (runs := api.get("/api/runs").get_json()["runs"]) and runs[0])


def patch(api, run_id: int, values: dict) -> None:
    response = api.patch(f"/api/runs/{run_id}/hparams", json=values)
    assert response.status_code == 200, response.get_json()


def control(api, run_id: int, action: str) -> None:
    response = api.control(run_id, action)
    assert response.status_code == 202, response.get_json()


def series(api, run_id: int, key: str) -> dict[int, float]:
    data = api.get(f"/api/runs/{run_id}/metrics?keys={key}").get_json()["series"]
    return {step: value for step, value, _ in data.get(key, [])}


def checkpoints(api, run_id: int) -> list[str]:
    """The paths of the run's checkpoints, as the app lists them."""
    rows = api.get(f"/api/runs/{run_id}/checkpoints").get_json()["checkpoints"]
    return [row["path"] for row in rows]


def held(read, seconds: float = 0.6):
    """read() twice, ``seconds`` apart: equal while training is held."""
    before = read()
    time.sleep(seconds)
    return before, read()


def check_scaled(records: list, event: dict) -> None:
    """Every recorded (step, used lr, schedule lr): schedule × factor from the event's step on."""
    factor = event["payload"]["factor"]
    assert factor != 1.0
    before = [r for r in records if r[0] < event["step"]]
    after = [r for r in records if r[0] >= event["step"]]
    assert before and after, (event["step"], [r[0] for r in records])
    for step, used, schedule in before:
        assert used == schedule, (step, used, schedule)
    for step, used, schedule in after:
        assert abs(used - schedule * factor) <= 1e-12 + 1e-9 * abs(used), (step, used, schedule)
