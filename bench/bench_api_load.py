"""API load benchmark: uploads per second and feed latency under N concurrent clients, against
gunicorn + PostgreSQL on this machine, driven by locust (``bench/locustfile.py``).

    .venv/bin/python bench/bench_api_load.py --duration 60 --clients 8 --out bench/results/api_load.json

What it does, all on this machine:

1. Makes distinct ~170 KB 1024x768 noise JPEGs with Pillow (seed photos and one folder per client).
2. Drops and creates the PostgreSQL database ``tagloop_bench``, a temporary SHARED_FS and VAR_DIR,
   runs ``manage.py migrate``, creates one user + token per client and seeds photos through
   ``api.photos.services.upload_photo`` (so the feed and the tag filter have content).
3. Starts gunicorn (3 workers x 2 threads by default) and warms it up with a few feed requests.
4. Runs locust headless twice: an upload-only phase (``UploadUser``) then a feed-only phase
   (``FeedUser``), each for ``--duration`` seconds with ``--clients`` users and no think time.
5. Samples the CPU time of gunicorn, locust, PostgreSQL and Redis (psutil) during each phase.
6. Writes locust's figures, exact percentiles from every request, status codes, the CPU split and
   machine facts to ``--out``; stops gunicorn, drops the database and flushes Redis db 14, also
   when something fails.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import io
import json
import multiprocessing
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
import psycopg2
import redis
import requests
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import PG_ADMIN as PG_ADMIN_DSN
from _stack import REPO, free_port, percentile, pg_admin

DB_NAME = "tagloop_bench"
PG_BENCH_DSN = f"host=127.0.0.1 port=5432 user=postgres dbname={DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/14"
TAGS = ["beach", "city", "dog", "cat", "forest", "mountain", "food", "night", "portrait", "snow"]
IMAGE_SIZE = (1024, 768)
# Noise this coarse, upscaled, gives ~170 KB JPEGs at quality 80: a phone photo's decode and
# thumbnail work at a tenth of the bytes, and every image is different.
NOISE_SIZE = (128, 96)
JPEG_QUALITY = 80
SEED_BASE = 1_000_000  # seed photos use random seeds SEED_BASE.., upload images 0..

SEED_SCRIPT = r"""
import json, os, random
from pathlib import Path

import django

django.setup()

from django.contrib.auth.models import User

from api.accounts.services import token_for
from api.photos.services import upload_photo

config = json.loads(os.environ["BENCH_SEED_CONFIG"])
rng = random.Random(7)
users = [User.objects.create_user(username=name, password=None) for name in config["usernames"]]
tokens = [{"username": user.username, "token": token_for(user)} for user in users]
images = sorted(Path(config["seed_dir"]).glob("*.jpg"))
visibilities = ["public"] * 18 + ["private", "unlisted"]
for i, path in enumerate(images):
    upload_photo(
        owner=users[i % len(users)],
        data=path.read_bytes(),
        caption=f"seed photo {i}",
        visibility=rng.choice(visibilities),
        tag_names=rng.sample(config["tags"], rng.randint(1, 3)),
    )
Path(config["tokens_file"]).write_text(json.dumps(tokens))
print(f"seeded {len(users)} users and {len(images)} photos")
"""


# ---------------------------------------------------------------- images


def noise_jpeg(seed: int) -> bytes:
    rng = random.Random(seed)
    noise = Image.frombytes("RGB", NOISE_SIZE, rng.randbytes(NOISE_SIZE[0] * NOISE_SIZE[1] * 3))
    image = noise.resize(IMAGE_SIZE, Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _write_image(job: tuple[int, str]) -> int:
    seed, path = job
    data = noise_jpeg(seed)
    Path(path).write_bytes(data)
    return len(data)


def make_images(root: Path, *, seed_count: int, upload_count: int) -> dict[str, Any]:
    (root / "seed").mkdir(parents=True)
    (root / "uploads").mkdir(parents=True)
    jobs = [(SEED_BASE + i, str(root / "seed" / f"seed{i:05d}.jpg")) for i in range(seed_count)]
    jobs += [(i, str(root / "uploads" / f"up{i:05d}.jpg")) for i in range(upload_count)]
    started = time.perf_counter()
    with multiprocessing.Pool(os.cpu_count() or 1) as pool:
        sizes = pool.map(_write_image, jobs, chunksize=16)
    return {
        "count": len(sizes),
        "seed_photos": seed_count,
        "for_uploads": upload_count,
        "width": IMAGE_SIZE[0],
        "height": IMAGE_SIZE[1],
        "bytes_min": min(sizes),
        "bytes_mean": round(sum(sizes) / len(sizes)),
        "bytes_max": max(sizes),
        "seconds_to_make": round(time.perf_counter() - started, 1),
    }


# ---------------------------------------------------------------- services


def pg_query(sql: str, dsn: str = PG_BENCH_DSN) -> Any:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]
    finally:
        conn.close()


def drop_database() -> None:
    pg_admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def run_checked(cmd: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def start_gunicorn(
    env: dict[str, str], port: int, workers: int, threads: int, log_path: Path
) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "api.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]
    log = log_path.open("wb")
    # Its own session, so stopping it takes the workers too.
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_until_up(proc: subprocess.Popen[bytes], base_url: str, token: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{tail(log_path)}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{base_url}/api/photos/", timeout=5).status_code == 200:
                break
        time.sleep(0.3)
    else:
        raise RuntimeError(f"gunicorn did not answer within 60 s:\n{tail(log_path)}")
    # Each worker imports the URLconf, DRF and the views on its first request; do that before timing.
    headers = {"Authorization": f"Token {token}"}

    def one(i: int) -> int:
        url = f"{base_url}/api/photos/" + (f"?tag={TAGS[i % len(TAGS)]}" if i % 2 else "")
        return requests.get(url, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = Counter(pool.map(one, range(48)))
    if set(codes) != {200}:
        raise RuntimeError(f"warm-up got {dict(codes)}:\n{tail(log_path)}")


def stop_process_group(proc: subprocess.Popen[bytes] | None, grace: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------- CPU sampling


GROUPS = ("gunicorn", "locust", "postgres", "postgres_bg", "redis", "runner", "kernel", "other")


def _tree(pid: int) -> set[int]:
    try:
        root = psutil.Process(pid)
        return {pid, *(child.pid for child in root.children(recursive=True))}
    except psutil.Error:
        return set()


class CpuMonitor(threading.Thread):
    """CPU seconds (user + system) of every process on the machine, by group, sampled every ``interval``.

    Groups: the gunicorn tree, the locust tree, this runner, PostgreSQL backends of the bench
    database, PostgreSQL's shared background processes (WAL writer, checkpointer...), Redis,
    kernel threads, and everything else ("other": anything not part of the benchmark, e.g. another
    person's tests, which would skew the figures). A process first seen after the previous sample
    counts from zero; one already running counts from its first sample."""

    def __init__(self, *, gunicorn_pid: int, locust_pid: int, interval: float = 1.0):
        super().__init__(daemon=True)
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
            if f" {DB_NAME} " in cmdline:
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
            "gunicorn": _tree(self.gunicorn_pid),
            "locust": _tree(self.locust_pid),
            "runner": _tree(os.getpid()),
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


# ---------------------------------------------------------------- locust


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
) -> dict[str, Any]:
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
        monitor = CpuMonitor(gunicorn_pid=gunicorn.pid, locust_pid=proc.pid)
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


# ---------------------------------------------------------------- facts and reading


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in (
        "django",
        "djangorestframework",
        "gunicorn",
        "locust",
        "psycopg2-binary",
        "psycopg2",
        "pillow",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    pg = {}
    with contextlib.suppress(psycopg2.Error):
        for setting in ("server_version", "shared_buffers", "synchronous_commit", "fsync", "max_connections"):
            pg[setting] = pg_query(f"SHOW {setting}", PG_ADMIN_DSN)
    redis_version = None
    with contextlib.suppress(redis.RedisError):
        redis_version = redis.Redis.from_url(REDIS_URL).info("server").get("redis_version")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "postgres": pg,
        "redis": redis_version,
        "git_commit": commit.strip(),
        "git_worktree_dirty": bool(dirty.strip()),
        "tmp_filesystem": next(
            (
                p.fstype
                for p in sorted(psutil.disk_partitions(), key=lambda p: -len(p.mountpoint))
                if tempfile.gettempdir().startswith(p.mountpoint)
            ),
            None,
        ),
    }


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


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds per phase (default 60)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent locust users (default 8)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker (default 2)")
    parser.add_argument("--seed-photos", type=int, default=200, help="photos in the feed before the run")
    parser.add_argument(
        "--upload-images",
        type=int,
        default=0,
        help="distinct images for the upload phase (default: enough for 40 uploads/s; the measured "
        "rate here is ~25/s; if they run out, uploads reuse pixels with new bytes and are counted)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "api_load.json")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=300,
        help="before each phase, wait up to this many seconds for other load on the machine to stop",
    )
    parser.add_argument(
        "--connection",
        choices=["close", "keep-alive"],
        default="close",
        help="close (default): a new connection per request, which is how gunicorn sees traffic behind "
        "nginx (no upstream keepalive); keep-alive: each client keeps one connection, which stays on the "
        "worker that accepted it, so results depend on how 8 connections landed on 3 workers",
    )
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temporary folder (logs, CSVs)")
    args = parser.parse_args(argv)
    if args.upload_images <= 0:
        args.upload_images = 40 * args.duration + 100
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below on SIGTERM too
    out: Path = args.out if args.out.is_absolute() else Path.cwd() / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    logs = out.parent / f"{out.stem}.logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    work = Path(tempfile.mkdtemp(prefix="tagloop-bench-"))
    (work / "shared_fs").mkdir()
    (work / "var").mkdir()
    tokens_file = work / "tokens.json"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "api.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-secret",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "REDIS_URL": REDIS_URL,
        "THROTTLE_UPLOADS": "100000/min",
        "THROTTLE_LOGIN": "100000/min",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SHARED_FS": str(work / "shared_fs"),
        "VAR_DIR": str(work / "var"),
        "BENCH_TOKENS_FILE": str(tokens_file),
        "BENCH_IMAGES_DIR": str(work / "images" / "uploads"),
        "BENCH_TAGS": ",".join(TAGS),
        "BENCH_CONNECTION": args.connection,
        "PYTHONUNBUFFERED": "1",
    }
    gunicorn: subprocess.Popen[bytes] | None = None
    gunicorn_log = logs / "gunicorn.log"
    started = dt.datetime.now(dt.UTC)
    try:
        print(f"making images in {work} ...", flush=True)
        images = make_images(
            work / "images",
            seed_count=args.seed_photos,
            upload_count=args.upload_images,
        )
        print(f"  {images['count']} JPEGs, mean {images['bytes_mean'] / 1024:.0f} KB", flush=True)

        redis.Redis.from_url(REDIS_URL).flushdb()
        drop_database()
        pg_admin(f"CREATE DATABASE {DB_NAME}")
        run_checked([sys.executable, "manage.py", "migrate", "--noinput"], env, "migrate")
        seed_config = {
            "usernames": [f"bench{c}" for c in range(args.clients)],
            "seed_dir": str(work / "images" / "seed"),
            "tags": TAGS,
            "tokens_file": str(tokens_file),
        }
        seeding = time.perf_counter()
        print(
            run_checked(
                [sys.executable, "-c", SEED_SCRIPT],
                {**env, "BENCH_SEED_CONFIG": json.dumps(seed_config)},
                "seeding",
            ).strip(),
            f"in {time.perf_counter() - seeding:.1f} s",
            flush=True,
        )
        token = json.loads(tokens_file.read_text())[0]["token"]

        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        gunicorn = start_gunicorn(env, port, args.workers, args.threads, gunicorn_log)
        wait_until_up(gunicorn, base_url, token, gunicorn_log)
        print(f"gunicorn up on {base_url} ({args.workers} workers x {args.threads} threads)", flush=True)

        phases: dict[str, Any] = {}
        photos = {"before_upload": pg_query("SELECT count(*) FROM photos_photo")}
        common = {
            "args": args,
            "env": env,
            "base_url": base_url,
            "gunicorn": gunicorn,
            "work": work,
            "logs": logs,
        }
        phases["upload"] = run_phase("upload", "UploadUser", **common)
        photos["after_upload"] = pg_query("SELECT count(*) FROM photos_photo")
        phases["feed"] = run_phase("feed", "FeedUser", **common)
        photos["tags"] = pg_query("SELECT count(*) FROM tags_phototag")
        if gunicorn.poll() is not None:
            raise RuntimeError(f"gunicorn died during the run:\n{tail(gunicorn_log)}")

        upload = phases["upload"]["exact"]
        created = upload["all"]["status_codes"].get("201", 0)
        feed = phases["feed"]["exact"]
        server_errors = sum(
            n
            for p in phases.values()
            for code, n in p["exact"]["all"]["status_codes"].items()
            if int(code) >= 500
        )
        summary = {
            "uploads_per_s": upload["all"]["ok_per_s"],
            "uploads_ok": created,
            "upload_failures": upload["all"]["failures"],
            # Uploads sent after the prepared images ran out (same pixels, new bytes); should be 0.
            "uploads_recycled": phases["upload"]["recycled_uploads"],
            "upload_p50_ms": upload["all"]["p50_ms"],
            "upload_p95_ms": upload["all"]["p95_ms"],
            "feed_requests_per_s": round(feed["all"]["requests"] / feed["all"]["span_s"], 2),
            "feed_p50_ms": feed["all"]["p50_ms"],
            "feed_p95_ms": feed["all"]["p95_ms"],
            "feed_failures": feed["all"]["failures"],
            "server_errors_5xx": server_errors,
            "rows_match_201s": photos["after_upload"] - photos["before_upload"] == created,
            # CPU cores used by programs outside the benchmark; above ~0.1 the figures are skewed.
            "other_cores": {n: (p["cpu"].get("cores_used") or {}).get("other") for n, p in phases.items()},
            "iowait_cores": {n: p["cpu"].get("cores_iowait") for n, p in phases.items()},
        }
        result = {
            "benchmark": "api_load",
            "started_at": started.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "config": {
                "duration_s": args.duration,
                "clients": args.clients,
                "think_time_s": 0,
                "connection": args.connection,
                "gunicorn": {"workers": args.workers, "threads": args.threads, "worker_class": "gthread"},
                "database": "PostgreSQL (fresh database per run), CONN_MAX_AGE=60",
                "cache": REDIS_URL,
                "page_size": 24,
                "feed_mix": "50% GET /api/photos/, 50% GET /api/photos/?tag=<one of 10 tags>",
                "upload": "multipart image + caption + one tag; every file distinct",
                "percentiles": "exact: linear interpolation over every request; "
                "locust: its final CSV (rounds times to 2 significant digits above 100 ms)",
            },
            "images": images,
            "photos": photos,
            "machine": machine_info(),
            "summary": summary,
            "reading": reading(phases["upload"], "upload") + reading(phases["feed"], "feed"),
            "phases": phases,
        }
        out.write_text(json.dumps(result, indent=2) + "\n")
        print_summary(result, out)
        return 0
    finally:
        stop_process_group(gunicorn)
        with contextlib.suppress(psycopg2.Error):
            drop_database()
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(REDIS_URL).flushdb()
        if args.keep_tmp:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def print_summary(result: dict[str, Any], out: Path) -> None:
    s = result["summary"]
    m = result["machine"]
    print()
    print(f"machine: {m['nproc']} x {m['cpu_model']}, {m['memory_gib']} GiB")
    print(
        f"uploads: {s['uploads_per_s']}/s ({s['uploads_ok']} created, {s['upload_failures']} failed), "
        f"p50 {s['upload_p50_ms']} ms, p95 {s['upload_p95_ms']} ms"
    )
    print(
        f"feed:    {s['feed_requests_per_s']} req/s, p50 {s['feed_p50_ms']} ms, p95 {s['feed_p95_ms']} ms, "
        f"{s['feed_failures']} failed"
    )
    print(f"5xx: {s['server_errors_5xx']}; DB rows match 201s: {s['rows_match_201s']}")
    print(f"CPU used by other programs (cores): {s['other_cores']}; I/O wait (cores): {s['iowait_cores']}")
    for line in result["reading"]:
        print(f"  - {line}")
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
