"""`make run`: migrate, then run the web server, the tagging worker and the trainer together.

On the embedded defaults (no DATABASE_URL/REDIS_URL) everything lives under ``var/``: a SQLite
file and kombu's filesystem broker. Ctrl-C stops all three; if one dies, the others are stopped
too, so a half-running platform never hides a crash.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
sys.path.insert(0, str(ROOT))
from trainer.allocator import model_process_env  # noqa: E402 - needs ROOT on the path; no torch


def load_dotenv(path: Path) -> None:
    """Reads KEY=VALUE lines of .env; the real environment wins, as in docker compose."""
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#") and value.strip():
            os.environ.setdefault(key.strip(), value.strip())


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    load_dotenv(ROOT / ".env")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or "8000"))
    parser.add_argument("--host", default=os.environ.get("HOST") or "127.0.0.1")
    args = parser.parse_args()

    # A local run is a development run unless the environment says otherwise.
    os.environ.setdefault("DEBUG", "1")
    manage("migrate", "--noinput", "-v", "0")
    manage("collectstatic", "--noinput", "-v", "0")
    manage("ensure_admin")

    celery = [PY, "-m", "celery", "-A", "api", "worker", "--loglevel", "INFO"]
    commands = {
        "web": [
            PY, "-m", "gunicorn", "api.wsgi:application",
            "--bind", f"{args.host}:{args.port}", "--workers", "2", "--threads", "4",
            "--access-logfile", "-", "--timeout", "120",
        ],
        # Its pool's size is the tagging worker's to pick (TAGGER_PROCESSES): one on SQLite.
        "worker": [*celery, "-Q", "tagging,default", "-n", "worker@%h"],
        "trainer": [*celery, "-Q", "training", "--concurrency", "1", "-n", "trainer@%h", "--beat",
                    "--schedule", str(ROOT / "var" / "celerybeat-schedule")],
    }  # fmt: skip
    # The worker and trainer run the model: glibc reads its allocator settings at their start.
    envs = {
        "web": dict(os.environ),
        "worker": model_process_env(os.environ),
        "trainer": model_process_env(os.environ),
    }
    processes = {name: subprocess.Popen(cmd, cwd=ROOT, env=envs[name]) for name, cmd in commands.items()}
    print(f"Tagloop is running on http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited with code {process.returncode}; stopping the platform", file=sys.stderr)
                exit_code = process.returncode or 1
                stopping = True
        time.sleep(0.5)
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 20
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
