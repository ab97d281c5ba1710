"""Runs in a Jupyter kernel: the app served in the background, the dashboard in the output
cell, and a run ended where a script's would end at exit.

- ``lernkurve.init`` finds the server that serves the database (lernkurve.store.servers) or
  serves the app from daemon threads of the kernel (lernkurve.launch.serve_in_background,
  loaded by name: the training client never imports the web side, as the layers say);
- an interrupted cell (KeyboardInterrupt) ends the kernel's open run as `stopped` at once: the
  kernel goes on, so no exit handler would; a new ``init`` ends the one before it first;
- at the kernel's exit an open run ends as `completed` (its steps done) or `stopped`.

Nothing here imports IPython: it is looked up only where it was imported already.
"""

from __future__ import annotations

import atexit
import html
import importlib
import json
import sys
import threading
import urllib.error
import urllib.request
from typing import Any

from lernkurve.store import servers

HEIGHT = 600  # pixels of the dashboard in an output cell
PROBE_TIMEOUT = 2.0  # seconds a recorded server has to answer

_open: Any = None  # the kernel's run that has not ended yet (lernkurve.tracking.run.Run)
_hooked: set[int] = set()  # the shells whose post_run_cell calls after_cell
_lock = threading.Lock()


def kernel_shell() -> Any:
    """The IPython shell of a Jupyter kernel this runs in, else None (IPython not imported)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def before_init() -> None:
    """In a kernel: end the run an earlier ``init`` left open, saying so in one line."""
    run = _open
    if run is not None and not run.ended.is_set():
        status = end_open(run)
        print(f"lernkurve: run {run.id} ended as {status} (a new run starts)", file=sys.stderr)


def adopt(run: Any) -> None:
    """In a kernel: serve the app for the run's database, and end the run with the cell or
    kernel as described above."""
    global _open
    shell = kernel_shell()
    if shell is None:
        return
    _open = run
    atexit.unregister(run._at_exit)  # IPython's last error is no verdict on this run
    with _lock:
        if id(shell) not in _hooked:
            _hooked.add(id(shell))
            shell.events.register("post_run_cell", after_cell)
            atexit.register(_at_exit)
    try:
        server(run.db.url)
    except Exception as err:  # noqa: BLE001 - the run trains on; show() says it again
        print(f"lernkurve: no dashboard for this notebook: {err}", file=sys.stderr)


def end_open(run: Any) -> str:
    """End ``run``: `completed` when it ran all its steps, else `stopped`; the status."""
    done = run.total_steps is not None and run.step >= run.total_steps
    status = "completed" if done and not run.commands.stopping else "stopped"
    run.finish(status)
    return status


def after_cell(result: Any) -> None:
    """IPython's post_run_cell: an interrupted cell ends the open run as `stopped`."""
    run = _open
    error = getattr(result, "error_in_exec", None)
    if isinstance(error, KeyboardInterrupt) and run is not None and not run.ended.is_set():
        run.finish("stopped")
        message = f"lernkurve: run {run.id} stopped (interrupted); its points are kept"
        print(message, file=sys.stderr)


def _at_exit() -> None:
    run = _open
    if run is not None and not run.ended.is_set():
        end_open(run)


def server(database_url: str) -> tuple[str, str]:
    """(base URL, token) of a server for the database: a recorded live one, else one started
    in this process."""
    record = servers.read(database_url)
    if record is not None and answers(record["url"], record["token"]):
        return record["url"], record["token"]
    launch = importlib.import_module("lernkurve.launch")  # the composition root, by name
    return launch.serve_in_background(database_url)


def answers(base_url: str, token: str) -> bool:
    """The server at ``base_url`` is up and takes ``token``."""
    request = urllib.request.Request(
        base_url + "/api/health", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:
            return json.load(response).get("status") == "ok"
    except (OSError, ValueError, AttributeError):
        return False


def dashboard_url(run: Any) -> str:
    """The address of the run's live dashboard, token included."""
    base, token = server(run.db.url)
    return f"{base}/?token={token}#/run/{run.id}"


def iframe_html(run: Any, height: int = HEIGHT) -> str:
    """The run's live dashboard as an IFrame as wide as the output cell."""
    src = html.escape(dashboard_url(run), quote=True)
    return (
        f'<iframe src="{src}" width="100%" height="{int(height)}" '
        f'style="border: 0" title="Lernkurve run {int(run.id)}"></iframe>'
    )


def show(run: Any, height: int = HEIGHT) -> None:
    """Put the run's live dashboard into the output cell (printed as a link outside one)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        print(dashboard_url(run))
        return
    from IPython.display import HTML, display

    display(HTML(iframe_html(run, height)))
