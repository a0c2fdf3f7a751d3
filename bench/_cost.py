"""What one photo costs a backbone on this machine's CPU: decode, preprocessing and forward pass
through ``Tagger.predict_sources`` in the worker's batches, with a fixed number of torch threads."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import torch
from _cpu import wait_for_quiet
from _embeddings import WORKER_BATCH, day_zero_tagger

BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq")


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return sum(getattr(times, name) for name in BUSY_FIELDS)


def cpu_model() -> str:
    """``lscpu``'s model name (what the reader compares machines by), else /proc/cpuinfo's."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def spread(files: list[Path], count: int) -> list[Path]:
    """``count`` photos evenly spaced through a sorted list, so every class folder is in them."""
    step = max(1, len(files) // count)
    return files[::step][:count]


def ms_per_photo(
    backbone_id: str,
    photos: list[Path],
    *,
    threads: int,
    passes: int,
    batch: int = WORKER_BATCH,
    quiet_wait_s: float = 300,
) -> dict[str, Any]:
    """Median over ``passes`` timed passes (after one untimed warm-up pass) of wall time per photo.
    The bytes are read before the clock starts; the decode from bytes is timed, as the worker's.
    Waits up to ``quiet_wait_s`` for an idle machine first, and records per pass this process's
    CPU time per photo and the cores others kept busy meanwhile (``other_cores``): wall times are
    only the backbone's when that is near zero."""
    sources: list[bytes | str | Path] = [path.read_bytes() for path in photos]
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    me = psutil.Process()
    try:
        with tempfile.TemporaryDirectory() as models:
            tagger = day_zero_tagger(backbone_id, Path(models))
            quiet = wait_for_quiet(quiet_wait_s)
            per_pass = []
            for timed in [False] + [True] * passes:
                busy_before, mine_before = _busy_seconds(), sum(me.cpu_times()[:2])
                started = time.perf_counter()
                for start in range(0, len(sources), batch):
                    tagger.predict_sources(sources[start : start + batch])
                elapsed = time.perf_counter() - started
                mine = sum(me.cpu_times()[:2]) - mine_before
                if timed:
                    per_pass.append(
                        {
                            "ms_per_photo": round(elapsed * 1000 / len(sources), 2),
                            "cpu_ms_per_photo": round(mine * 1000 / len(sources), 2),
                            "other_cores": round(
                                max(0.0, (_busy_seconds() - busy_before - mine) / elapsed), 2
                            ),
                            "loadavg_1m": round(os.getloadavg()[0], 2),
                        }
                    )
    finally:
        torch.set_num_threads(previous)
    times = [p["ms_per_photo"] for p in per_pass]
    return {
        "ms_per_photo_median": round(statistics.median(times), 2),
        "ms_per_photo_min": min(times),
        "ms_per_photo_max": max(times),
        "cpu_ms_per_photo_median": round(statistics.median(p["cpu_ms_per_photo"] for p in per_pass), 2),
        "quiet_before": quiet,
        "passes": per_pass,
        "photos": len(sources),
        "batch": batch,
        "torch_threads": threads,
    }
