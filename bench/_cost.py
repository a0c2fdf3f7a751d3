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


def _steal_seconds() -> float:
    """Time the hypervisor gave this VM's cores to someone else: a slowdown no process here shows."""
    return float(getattr(psutil.cpu_times(), "steal", 0.0))


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


def _one_pass(
    tagger: Any, sources: list[bytes | str | Path], batch: int, me: psutil.Process
) -> dict[str, Any]:
    busy_before, steal_before, mine_before = _busy_seconds(), _steal_seconds(), sum(me.cpu_times()[:2])
    started = time.perf_counter()
    for start in range(0, len(sources), batch):
        tagger.predict_sources(sources[start : start + batch])
    elapsed = time.perf_counter() - started
    mine = sum(me.cpu_times()[:2]) - mine_before
    return {
        "ms_per_photo": round(elapsed * 1000 / len(sources), 2),
        "cpu_ms_per_photo": round(mine * 1000 / len(sources), 2),
        "other_cores": round(max(0.0, (_busy_seconds() - busy_before - mine) / elapsed), 2),
        "steal_cores": round((_steal_seconds() - steal_before) / elapsed, 2),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def ms_per_photo(
    backbone_ids: list[str],
    photos: list[Path],
    *,
    threads: int,
    passes: int,
    batch: int = WORKER_BATCH,
    quiet_wait_s: float = 120,
) -> dict[str, dict[str, Any]]:
    """Wall time per photo of each backbone: the median over ``passes`` timed passes, after one
    untimed warm-up pass each. The bytes are read before the clock starts; the decode from bytes is
    timed, as the worker's. The backbones take turns within each round (the order rotating), and
    each round first waits up to ``quiet_wait_s`` for an idle machine: on a shared VM whatever else
    runs then slows every backbone alike rather than one. Each pass records this process's CPU
    time per photo and the cores others kept busy meanwhile (``other_cores``); the quiet median
    uses only passes with ``other_cores`` at most ``QUIET_CORES``."""
    sources: list[bytes | str | Path] = [path.read_bytes() for path in photos]
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    me = psutil.Process()
    taggers = {}
    for backbone_id in backbone_ids:
        with tempfile.TemporaryDirectory() as models:  # the loaded tagger holds its weights in memory
            taggers[backbone_id] = day_zero_tagger(backbone_id, Path(models))
    runs: dict[str, list[dict[str, Any]]] = {backbone_id: [] for backbone_id in backbone_ids}
    try:
        for tagger in taggers.values():
            _one_pass(tagger, sources, batch, me)  # warm-up
        for round_ in range(passes):
            quiet = wait_for_quiet(quiet_wait_s)
            order = backbone_ids[round_ % len(backbone_ids) :] + backbone_ids[: round_ % len(backbone_ids)]
            for backbone_id in order:
                runs[backbone_id].append(
                    _one_pass(taggers[backbone_id], sources, batch, me)
                    | {"round": round_, "quiet_before": quiet["quiet"]}
                )
    finally:
        torch.set_num_threads(previous)
    return {
        backbone_id: _summary(per_pass, len(sources), batch, threads)
        for backbone_id, per_pass in runs.items()
    }


QUIET_CORES = 0.25  # wait_for_quiet's own threshold
MIN_QUIET_PASSES = 3


def _summary(per_pass: list[dict[str, Any]], photos: int, batch: int, threads: int) -> dict[str, Any]:
    times = [p["ms_per_photo"] for p in per_pass]
    quiet = [p["ms_per_photo"] for p in per_pass if p["other_cores"] <= QUIET_CORES]
    # Two torch threads on two cores stall at every barrier when another process takes one core
    # (a 16-photo pass went from 27 to 321 ms/photo with 0.94 cores busy elsewhere), so one busy
    # pass moves a median of five; the headline keeps the quiet passes when there are enough.
    headline = quiet if len(quiet) >= MIN_QUIET_PASSES else times
    return {
        "ms_per_photo": round(statistics.median(headline), 2),
        "ms_per_photo_from": "quiet passes" if headline is quiet else "all passes",
        "ms_per_photo_median": round(statistics.median(times), 2),
        "ms_per_photo_min": min(times),
        "ms_per_photo_max": max(times),
        "ms_per_photo_quiet_median": round(statistics.median(quiet), 2) if quiet else None,
        "quiet_passes": len(quiet),
        "cpu_ms_per_photo_median": round(statistics.median(p["cpu_ms_per_photo"] for p in per_pass), 2),
        "passes": per_pass,
        "photos": photos,
        "batch": batch,
        "torch_threads": threads,
    }
