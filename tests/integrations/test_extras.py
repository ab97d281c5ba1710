"""A missing extra is one line saying what to install; the frameworks stay optional."""

from __future__ import annotations

import importlib
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "framework", "pins"),
    [
        ("lernkurve.integrations.hf", "transformers", "transformers==5.24.0 accelerate==1.15.0"),
        ("lernkurve.integrations.lightning", "lightning", "lightning==2.6.6"),
    ],
)
def test_an_integration_without_its_framework_says_what_to_install(
    monkeypatch, module, framework, pins
):
    monkeypatch.setitem(sys.modules, framework, None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, f"{framework}.pytorch", None)
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(ImportError) as caught:
        importlib.import_module(module)
    message = str(caught.value)
    assert "\n" not in message and f"pip install {pins}" in message
    assert message.startswith(f"{module} needs {framework}")


def test_the_importer_without_tensorboard_says_what_to_install(monkeypatch, tmp_path, capsys):
    from lernkurve import tensorboard

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setitem(sys.modules, "tensorboard.backend.event_processing.event_accumulator", None)
    (tmp_path / "events.out.tfevents.1").write_bytes(b"")
    assert tensorboard.main([str(tmp_path), "--db", str(tmp_path / "x.db")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install tensorboard==2.21.0" in err


def test_the_app_imports_none_of_the_frameworks():
    import subprocess

    from support import ROOT

    code = (
        "import sys, webserver, lernkurve.cli, lernkurve.tensorboard, lernkurve.integrations; "
        "print(sorted(m for m in ('transformers', 'lightning', 'tensorboard') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stderr
