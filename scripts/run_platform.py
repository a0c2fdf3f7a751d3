"""`make run`: migrate, then run the web server, the tagging worker and the trainer together.

On the embedded defaults (no DATABASE_URL/REDIS_URL) everything lives under ``var/``: a SQLite
file and kombu's filesystem broker. Ctrl-C stops all three; if one dies, the others are stopped
too, so a half-running platform never hides a crash.

It says one line per step and then where the site is; the processes themselves log only
warnings and errors (``LOG_LEVEL`` raises that), so what is left on screen is worth reading.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
sys.path.insert(0, str(ROOT))
from api.config import local_secret  # noqa: E402 - needs ROOT on the path
from trainer.allocator import model_process_env  # noqa: E402 - needs ROOT on the path; no torch

# Celery warns on every start when it runs as root, which a container or a VM often is. Matched
# by its message, so any other warning still shows.
CELERY_ROOT_WARNING = "ignore:You're running the worker with superuser privileges:Warning"


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


def step(line: str) -> None:
    print(line, flush=True)


def admin_login(var_dir: Path) -> tuple[str, bool]:
    """Who to log in as, and whether the password was generated: ADMIN_USERNAME/ADMIN_PASSWORD
    when set, otherwise ``admin`` with a password made once in var/admin_password, so a fresh
    checkout can log in at all."""
    if os.environ.get("ADMIN_USERNAME", "").strip() and os.environ.get("ADMIN_PASSWORD"):
        return f"{os.environ['ADMIN_USERNAME'].strip()} / the password in ADMIN_PASSWORD", False
    os.environ["ADMIN_USERNAME"] = "admin"
    os.environ["ADMIN_PASSWORD"] = local_secret(var_dir, "admin_password")
    return f"admin / the password in {var_dir / 'admin_password'}", True


def wait_until_up(url: str, processes: dict[str, subprocess.Popen[bytes]], timeout: float = 300) -> bool:
    """True once the site answers; False if a process died or it never answered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes.values()):
            return False
        try:
            with urllib.request.urlopen(url + "healthz", timeout=5) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    load_dotenv(ROOT / ".env")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or "8000"))
    parser.add_argument("--host", default=os.environ.get("HOST") or "127.0.0.1")
    args = parser.parse_args()

    var_dir = Path(os.environ.get("VAR_DIR") or ROOT / "var").resolve()
    # A local run serves real pages (no debug page listing every URL on a 404): DEBUG=1 in the
    # environment still turns debug on. Its key is its own, kept under var/; SECRET_KEY wins.
    os.environ.setdefault("DEBUG", "0")
    if not os.environ.get("SECRET_KEY"):
        os.environ["SECRET_KEY"] = local_secret(var_dir, "secret_key")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    login_as, generated = admin_login(var_dir)
    step("Migrating the database…")
    manage("migrate", "--noinput", "-v", "0")
    step("Collecting static files…")
    manage("collectstatic", "--noinput", "-v", "0")
    # A generated password only opens a fresh site: once the admin changes it, it stays changed.
    manage("ensure_admin", "-v", "0", *(["--keep-password"] if generated else []))

    # --quiet: no banner; the step lines above say what started.
    celery = [PY, "-m", "celery", "-A", "api", "--quiet", "worker", "--loglevel", "WARNING"]
    commands = {
        "web": [
            PY, "-m", "gunicorn", "api.wsgi:application",
            "--bind", f"{args.host}:{args.port}", "--workers", "2", "--threads", "4",
            "--log-level", "warning", "--timeout", "120",
        ],
        # Its pool's size is the tagging worker's to pick (TAGGER_PROCESSES): one on SQLite.
        "worker": [*celery, "-Q", "tagging,default", "-n", "worker@%h"],
        "trainer": [*celery, "-Q", "training", "--concurrency", "1", "-n", "trainer@%h", "--beat",
                    "--schedule", str(var_dir / "celerybeat-schedule")],
    }  # fmt: skip
    # The worker and trainer run the model: glibc reads its allocator settings at their start.
    quiet_celery = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), CELERY_ROOT_WARNING]))
    envs = {
        "web": dict(os.environ),
        "worker": {**model_process_env(os.environ), "PYTHONWARNINGS": quiet_celery},
        "trainer": {**model_process_env(os.environ), "PYTHONWARNINGS": quiet_celery},
    }
    step("Starting web, tagging worker, trainer…")
    processes = {name: subprocess.Popen(cmd, cwd=ROOT, env=envs[name]) for name, cmd in commands.items()}
    url = f"http://{args.host}:{args.port}/"
    if wait_until_up(url, processes):
        step(f"Tagloop is running at {url} — log in as {login_as} (Ctrl-C stops it)")

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
    step("Stopping…")
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
