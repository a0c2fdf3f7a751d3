"""Where the CPU goes while a benchmark runs: every process on the machine sampled and grouped
(the server, the load generator, PostgreSQL, Redis, everything else), and a wait for a quiet
machine before a phase starts."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import psutil
from _stack import tree

GROUPS = ("gunicorn", "locust", "postgres", "postgres_bg", "redis", "runner", "kernel", "other")


def _pids(pid: int) -> set[int]:
    return {process.pid for process in tree(pid)}


class CpuMonitor(threading.Thread):
    """CPU seconds (user + system) of every process on the machine, by group, sampled every ``interval``.

    Groups: the gunicorn tree, the locust tree, this runner, PostgreSQL backends of the bench
    database, PostgreSQL's shared background processes (WAL writer, checkpointer...), Redis,
    kernel threads, and everything else ("other": anything not part of the benchmark, e.g. another
    person's tests, which would skew the figures). A process first seen after the previous sample
    counts from zero; one already running counts from its first sample."""

    def __init__(self, *, db_name: str, gunicorn_pid: int, locust_pid: int, interval: float = 1.0):
        super().__init__(daemon=True)
        self.db_name = db_name
        self.gunicorn_pid = gunicorn_pid
        self.locust_pid = locust_pid
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self._stop_event = threading.Event()
        self._group: dict[tuple[int, float], str] = {}
        self._base: dict[tuple[int, float], float] = {}
        self._last: dict[tuple[int, float], float] = {}
        self._wbase: dict[tuple[int, float], float] = {}
        self._wlast: dict[tuple[int, float], float] = {}
        self._prev_t = time.time()

    def _classify(self, proc: psutil.Process, trees: dict[str, set[int]]) -> str:
        for group, pids in trees.items():
            if proc.pid in pids:
                return group
        name = proc.info["name"] or ""
        if name == "postgres":
            cmdline = " ".join(proc.info["cmdline"] or [])
            if f" {self.db_name} " in cmdline:
                return "postgres"
            # Backends name a client address; the shared background processes do not.
            return "other:" if ("(" in cmdline or "[local]" in cmdline) else "postgres_bg"
        if name == "redis-server":
            return "redis"
        if proc.pid == 2 or proc.info["ppid"] == 2:
            return "kernel"
        return f"other:{name}"

    def sample(self) -> None:
        now = time.time()
        trees = {
            "gunicorn": _pids(self.gunicorn_pid),
            "locust": _pids(self.locust_pid),
            "runner": _pids(os.getpid()),
        }
        attrs = ["name", "cmdline", "ppid", "create_time", "cpu_times", "io_counters"]
        for proc in psutil.process_iter(attrs):
            created, times, io_ = proc.info["create_time"], proc.info["cpu_times"], proc.info["io_counters"]
            if created is None or times is None:
                continue
            key = (proc.pid, created)
            written = float(io_.write_bytes) if io_ is not None else 0.0
            if key not in self._group:
                self._group[key] = self._classify(proc, trees)
                new = created >= self._prev_t
                self._base[key] = 0.0 if new else times.user + times.system
                self._wbase[key] = 0.0 if new else written
            self._last[key] = times.user + times.system
            self._wlast[key] = written
        cumulative: dict[str, float] = {}
        writes: dict[str, float] = {}
        for key, total in self._last.items():
            group = self._group[key]
            cumulative[group] = cumulative.get(group, 0.0) + total - self._base[key]
            writes[group] = writes.get(group, 0.0) + self._wlast[key] - self._wbase[key]
        disk = psutil.disk_io_counters()
        self.samples.append(
            {
                "t": now,
                "groups": cumulative,
                "writes": writes,
                "system": psutil.cpu_times()._asdict(),
                "disk": disk._asdict() if disk is not None else {},
            }
        )
        self._prev_t = now

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.sample()

    def window(self, t0: float, t1: float, ncpu: int) -> dict[str, Any]:
        """CPU use between the samples that bracket [t0, t1], in cores and % of the machine."""
        before = [s for s in self.samples if s["t"] <= t0] or self.samples[:1]
        after = [s for s in self.samples if s["t"] >= t1] or self.samples[-1:]
        a, b = before[-1], after[0]
        seconds = b["t"] - a["t"]
        if seconds <= 0:
            return {}

        def d(field: str) -> float:
            return b["system"].get(field, 0.0) - a["system"].get(field, 0.0)

        def used(group: str) -> float:
            return b["groups"].get(group, 0.0) - a["groups"].get(group, 0.0)

        busy = sum(d(f) for f in ("user", "nice", "system", "irq", "softirq"))
        cores = {g: used(g) / seconds for g in GROUPS if g != "other"}
        others = {g.split(":", 1)[1]: used(g) / seconds for g in b["groups"] if g.startswith("other")}
        cores["other"] = sum(others.values())
        cores["all_busy"] = busy / seconds
        # Interrupts and accounting granularity: what the process sums do not explain.
        cores["unattributed"] = max(0.0, cores["all_busy"] - sum(v for g, v in cores.items() if g in GROUPS))
        top_other = sorted(
            ((v, n or "postgres backend of another database") for n, v in others.items()), reverse=True
        )
        return {
            "window_s": round(seconds, 2),
            "machine_cores": ncpu,
            "cores_used": {g: round(v, 3) for g, v in cores.items()},
            "percent_of_machine": {g: round(100 * v / ncpu, 1) for g, v in cores.items()},
            "cores_iowait": round(d("iowait") / seconds, 3),
            "cores_steal": round(d("steal") / seconds, 3),
            "cores_idle": round(d("idle") / seconds, 3),
            "top_other_processes": [
                {"name": n, "cores": round(v, 3)} for v, n in top_other[:5] if v >= 0.005
            ],
            "disk": self._disk(a, b, seconds),
        }

    @staticmethod
    def _disk(a: dict[str, Any], b: dict[str, Any], seconds: float) -> dict[str, Any]:
        """Block-device traffic (all disks), and what each group wrote to files (/proc/PID/io
        write_bytes, counted when pages are dirtied: it can run ahead of the device figures)."""

        def d(field: str) -> float:
            return b["disk"].get(field, 0.0) - a["disk"].get(field, 0.0)

        by_group: dict[str, float] = {}
        for group in b["writes"]:
            name = "other" if group.startswith("other") else group
            by_group[name] = by_group.get(name, 0.0) + b["writes"][group] - a["writes"].get(group, 0.0)
        return {
            "write_mb_per_s": round(d("write_bytes") / seconds / 1e6, 2),
            "writes_per_s": round(d("write_count") / seconds, 1),
            "read_mb_per_s": round(d("read_bytes") / seconds / 1e6, 2),
            "busy_percent": round(100 * d("busy_time") / 1000 / seconds, 1),
            "written_mb_per_s_by_group": {
                g: round(v / seconds / 1e6, 2) for g, v in sorted(by_group.items()) if v > 0
            },
        }


def wait_for_quiet(limit_s: float, threshold_cores: float = 0.25) -> dict[str, Any]:
    """Wait (up to ``limit_s``) until the machine is nearly idle over 3 s (CPU busy and I/O wait each
    under ``threshold_cores``), so a phase does not start while something else (another person's
    tests, a package install) is using the cores or the disk. Reports what it saw."""
    started = time.monotonic()
    while True:
        a = psutil.cpu_times()
        time.sleep(3)
        b = psutil.cpu_times()
        fields = ("user", "nice", "system", "irq", "softirq")
        busy = sum(getattr(b, f) - getattr(a, f) for f in fields) / 3
        iowait = (b.iowait - a.iowait) / 3
        waited = time.monotonic() - started
        quiet = busy <= threshold_cores and iowait <= threshold_cores
        if quiet or waited >= limit_s:
            return {
                "busy_cores_before": round(busy, 3),
                "iowait_cores_before": round(iowait, 3),
                "waited_s": round(waited, 1),
                "quiet": quiet,
            }
        print(f"  machine busy ({busy:.2f} cores busy, {iowait:.2f} in I/O wait); waiting ...", flush=True)


def reading(phase: dict[str, Any], name: str) -> list[str]:
    """Plain statements derived from the measured CPU split; the judgement stays with the reader."""
    cpu = phase.get("cpu") or {}
    if not cpu:
        return []
    c = cpu["cores_used"]
    ncpu = cpu["machine_cores"]
    notes = [
        f"{name}: machine {cpu['percent_of_machine']['all_busy']:.0f}% busy ({c['all_busy']:.2f} of {ncpu} "
        f"cores): gunicorn {c['gunicorn']:.2f}, locust {c['locust']:.2f}, postgres backends "
        f"{c['postgres']:.2f} + background {c['postgres_bg']:.2f}, redis {c['redis']:.2f}, kernel threads "
        f"{c['kernel']:.2f}, runner {c['runner']:.2f}, not ours {c['other']:.2f}, unattributed "
        f"{c['unattributed']:.2f}; iowait {cpu['cores_iowait']:.2f} cores"
    ]
    disk = cpu.get("disk") or {}
    if disk:
        groups = ", ".join(f"{g} {v}" for g, v in disk["written_mb_per_s_by_group"].items())
        notes.append(
            f"{name}: disk {disk['write_mb_per_s']} MB/s written in {disk['writes_per_s']} writes/s, "
            f"busy {disk['busy_percent']}% of the time; written by: {groups} (MB/s)"
        )
        if disk["written_mb_per_s_by_group"].get("other", 0) >= 1:
            notes.append(
                f"{name}: other programs wrote {disk['written_mb_per_s_by_group']['other']} MB/s to files "
                f"(matters if this phase waits on the disk: iowait {cpu['cores_iowait']:.2f} cores)"
            )
    if cpu["cores_iowait"] >= 0.3:
        notes.append(f"{name}: {cpu['cores_iowait']:.2f} cores idle waiting for I/O: the disk limits too")
    if c["all_busy"] >= 0.85 * ncpu:
        notes.append(f"{name}: CPU-saturated; load generator and server share the same {ncpu} cores")
    elif cpu["cores_iowait"] < 0.3:
        notes.append(
            f"{name}: CPU not saturated and little I/O wait: the server is held back elsewhere, e.g. all "
            f"keep-alive connections on one gunicorn worker, which runs Python on about one core"
        )
    if c["other"] >= 0.1:
        tops = ", ".join(f"{p['name']} {p['cores']:.2f}" for p in cpu["top_other_processes"])
        notes.append(
            f"{name}: WARNING other programs used {c['other']:.2f} cores ({tops}); figures are skewed"
        )
    if c["locust"] >= 0.9:
        notes.append(f"{name}: locust uses ~1 core (gevent runs on one), so the load generator may limit")
    spread = [c["p50_ms"] for c in phase.get("per_client", {}).values()]
    if spread and min(spread) > 0 and max(spread) / min(spread) >= 2:
        notes.append(
            f"{name}: per-client p50 ranges {min(spread):.0f}-{max(spread):.0f} ms: clients' connections are "
            f"unevenly spread over the gunicorn workers (see per_client)"
        )
    per = cpu.get("cpu_ms_per_request", {})
    if per:
        notes.append(
            f"{name}: CPU per request: gunicorn {per['gunicorn']} ms, postgres {per['postgres']} + "
            f"{per['postgres_bg']} ms, locust {per['locust']} ms, whole machine {per['all_busy']} ms"
        )
    return notes
