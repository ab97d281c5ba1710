"""System metrics of the training process, logged under sys/ every few seconds.

psutil gives the process's CPU and memory and the machine's memory; nvidia-ml-py (pynvml)
gives GPU utilisation and memory where a GPU and the library exist, and is skipped silently
otherwise.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from lernkurve.tracking.run import Run

INTERVAL = 5.0  # seconds between samples


def start_sampling(run: Run, interval: float = INTERVAL) -> threading.Thread:
    """Sample in a daemon thread until the run ends."""
    thread = threading.Thread(
        target=_sample_until_ended, args=(run, interval), name="lernkurve-sys", daemon=True
    )
    thread.start()
    return thread


def _sample_until_ended(run: Run, interval: float) -> None:
    process = psutil.Process()
    process.cpu_percent(None)  # the first call only starts the measurement
    gpus = _gpu_handles()
    ended = run.ended
    while not ended.wait(interval):
        if not run.resuming:  # the loop's own first log or step settles a resume
            run.log(run.step, **sample(process, gpus))


def sample(process: psutil.Process, gpus: list) -> dict[str, float]:
    values = {
        "sys/cpu_percent": process.cpu_percent(None),
        "sys/rss_mb": process.memory_info().rss / 2**20,
        "sys/memory_percent": psutil.virtual_memory().percent,
    }
    for index, handle in enumerate(gpus):
        try:
            import pynvml

            values[f"sys/gpu{index}_util"] = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
            values[f"sys/gpu{index}_mem_mb"] = pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
        except Exception:  # noqa: BLE001 - a GPU that stops answering costs its figures only
            continue
    return values


def _gpu_handles() -> list:
    try:
        import pynvml

        pynvml.nvmlInit()
        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # noqa: BLE001 - no library, no driver, no GPU: no GPU figures
        return []
