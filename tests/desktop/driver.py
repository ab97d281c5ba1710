"""desktop.py's main() with a remote control for the desktop tests, run as its own process.

Once the dashboard is usable it prints ``@@ {"ready": ...}``, then reads JSON lines on stdin:
``{"js": "expression"}`` is evaluated in the window's page and answered with
``@@ {"result": ...}``; ``{"close": true}`` closes the window as its close button does.
"""

import json
import sys

from lernkurve.desktop.app import exit_now, main


def reply(message: dict) -> None:
    print("@@ " + json.dumps(message), flush=True)


def remote_control(window, backend) -> None:
    reply({"ready": True, "url": backend.base_url})
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("close"):
            window.destroy()
            return
        try:
            reply({"result": window.run_js(command["js"])})
        except Exception as exc:  # noqa: BLE001 - the test sees what went wrong
            reply({"error": repr(exc)})


if __name__ == "__main__":
    exit_now(main(sys.argv[1:], on_ready=remote_control))
