"""Running a locust phase and reading what it measured: exact percentiles from every request the
locustfile recorded, per simulated client, locust's own CSV, and the CPU while it ran."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from _cpu import CpuMonitor, wait_for_quiet
from _stack import REPO, percentile


def summarise_raw(rows: list[dict[str, Any]]) -> dict[str, Any]:
    times = sorted(r["response_time_ms"] for r in rows)
    starts = [r["start_time"] for r in rows]
    ends = [r["start_time"] + r["response_time_ms"] / 1000 for r in rows]
    span = max(ends) - min(starts) if rows else 0.0
    ok = sum(1 for r in rows if r["ok"])
    return {
        "requests": len(rows),
        "ok": ok,
        "failures": len(rows) - ok,
        "status_codes": dict(sorted(Counter(str(r["status"]) for r in rows).items())),
        "span_s": round(span, 2),
        "ok_per_s": round(ok / span, 2) if span else None,
        "avg_ms": round(sum(times) / len(times), 1) if times else None,
        "p50_ms": round(percentile(times, 0.50), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "p99_ms": round(percentile(times, 0.99), 1),
        "max_ms": round(times[-1], 1) if times else None,
    }


def per_client(rows: list[dict[str, Any]]) -> dict[str, Any]:
    clients: dict[int, list[float]] = {}
    for row in rows:
        clients.setdefault(row.get("client", -1), []).append(row["response_time_ms"])
    out = {}
    for client, times in sorted(clients.items()):
        times.sort()
        out[str(client)] = {
            "requests": len(times),
            "p50_ms": round(percentile(times, 0.5), 1),
            "p95_ms": round(percentile(times, 0.95), 1),
        }
    return out


def read_locust_csv(prefix: Path) -> dict[str, Any]:
    def num(value: str) -> float | None:
        try:
            return float(value)
        except (TypeError, ValueError):
            return None

    endpoints: dict[str, Any] = {}
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            name = row["Name"] if row["Type"] else "Aggregated"
            endpoints[name] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "requests_per_s": round(num(row["Requests/s"]) or 0.0, 2),
                "failures_per_s": round(num(row["Failures/s"]) or 0.0, 2),
                "avg_ms": round(num(row["Average Response Time"]) or 0.0, 1),
                "p50_ms": num(row["50%"]),
                "p95_ms": num(row["95%"]),
                "p99_ms": num(row["99%"]),
                "max_ms": round(num(row["Max Response Time"]) or 0.0, 1),
                "avg_bytes": round(num(row["Average Content Size"]) or 0.0),
            }
    failures = []
    with contextlib.suppress(FileNotFoundError), open(f"{prefix}_failures.csv", newline="") as handle:
        failures = [
            {"name": r["Name"], "error": r["Error"], "occurrences": int(r["Occurrences"])}
            for r in csv.DictReader(handle)
        ]
    return {"endpoints": endpoints, "failure_messages": failures}


def run_phase(
    phase: str,
    user_class: str,
    *,
    args: argparse.Namespace,
    env: dict[str, str],
    base_url: str,
    gunicorn: subprocess.Popen[bytes],
    work: Path,
    logs: Path,
    db_name: str,
) -> dict[str, Any]:
    """One locust run of ``user_class`` against ``base_url``, with the machine's CPU sampled
    throughout; returns its figures."""
    prefix = work / f"locust-{phase}"
    raw_path = work / f"raw-{phase}.json"
    log_path = logs / f"locust-{phase}.log"
    final_prefix = work / f"locust-{phase}-final"
    locust_env = {**env, "BENCH_RAW_OUT": str(raw_path), "BENCH_FINAL_CSV": str(final_prefix)}
    cmd = [
        str(Path(sys.executable).parent / "locust"),
        "-f",
        str(REPO / "bench" / "locustfile.py"),
        "--headless",
        "-u",
        str(args.clients),
        "-r",
        str(args.clients),
        "-t",
        f"{args.duration}s",
        "--host",
        base_url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--exit-code-on-error",
        "0",
        # Let requests in flight at the end finish, so every upload the server stored is counted.
        "--stop-timeout",
        "30",
        user_class,
    ]
    quiet = wait_for_quiet(args.quiet_wait)
    print(f"[{phase}] {args.clients} x {user_class} for {args.duration} s ...", flush=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=locust_env, stdout=log, stderr=subprocess.STDOUT)
        monitor = CpuMonitor(db_name=db_name, gunicorn_pid=gunicorn.pid, locust_pid=proc.pid)
        monitor.start()
        try:
            proc.wait(timeout=args.duration + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"locust ({phase}) did not finish:\n{tail(log_path)}") from None
        finally:
            monitor.stop()
    if proc.returncode != 0 or not raw_path.exists():
        raise RuntimeError(f"locust ({phase}) exited with {proc.returncode}:\n{tail(log_path)}")

    raw = json.loads(raw_path.read_text())
    rows = raw["requests"]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_name.setdefault(row["name"], []).append(row)
    t0 = min(r["start_time"] for r in rows)
    t1 = max(r["start_time"] + r["response_time_ms"] / 1000 for r in rows)
    cpu = monitor.window(t0, t1, os.cpu_count() or 1)
    seconds = cpu.get("window_s") or (t1 - t0)
    if cpu:
        # CPU per request: what one request costs, whatever the concurrency.
        cpu["cpu_ms_per_request"] = {
            g: round(1000 * cpu["cores_used"][g] * seconds / len(rows), 1)
            for g in ("gunicorn", "postgres", "postgres_bg", "locust", "all_busy")
        }
    return {
        "user_class": user_class,
        # The final CSV (written by the locustfile at exit); locust's own --csv snapshot as a fallback.
        "locust": read_locust_csv(final_prefix if Path(f"{final_prefix}_stats.csv").exists() else prefix),
        "exact": {"all": summarise_raw(rows), **{n: summarise_raw(r) for n, r in sorted(by_name.items())}},
        # Each client keeps one keep-alive connection, which stays on the gunicorn worker that accepted
        # it: unequal figures here mean some workers serve more clients than others.
        "per_client": per_client(rows),
        "recycled_uploads": raw.get("recycled_uploads", 0),
        "before_phase": quiet,
        "cpu": cpu,
    }


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
