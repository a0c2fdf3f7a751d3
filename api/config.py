"""Typed settings read from environment variables.

Every reader fails loudly (``ImproperlyConfigured``) on a value it cannot parse, so a typo in
``.env`` stops the process at start-up instead of turning into a silent default.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_Number = TypeVar("_Number", int, float)


def env_str(name: str, default: str) -> str:
    # An empty value (``NAME=`` in .env) means "not set": compose passes such lines through.
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    return _env_number(name, default, int, "an integer", minimum, None, f"at least {minimum}")


def env_choice(name: str, default: str, choices: list[str]) -> str:
    value = (os.environ.get(name) or default).strip()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_float(
    name: str, default: float, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    return _env_number(name, default, float, "a number", minimum, maximum, f"between {minimum} and {maximum}")


def _env_number(
    name: str,
    default: _Number,
    parse: Callable[[str], _Number],
    kind: str,
    minimum: _Number | None,
    maximum: _Number | None,
    bounds: str,
) -> _Number:
    """``default`` when unset or empty (not checked against the bounds), else the parsed value,
    which must be ``kind`` and within the bounds (``bounds`` says them in the error)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = parse(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {kind}, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ImproperlyConfigured(f"{name} must be {bounds}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_email(name: str, default: str) -> str:
    """An e-mail address, bare or with a display name (``Tagloop <noreply@example.org>``)."""
    from email.utils import parseaddr

    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    value = (os.environ.get(name) or default).strip()
    try:
        validate_email(parseaddr(value)[1])
    except ValidationError:
        raise ImproperlyConfigured(f"{name} must be an e-mail address, got {value!r}") from None
    return value


def env_dotted_path(name: str, default: str) -> str:
    """A Python dotted path (``package.module.Class``), checked for its shape here; Django
    imports it at first use."""
    value = (os.environ.get(name) or default).strip()
    parts = value.split(".")
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        raise ImproperlyConfigured(f"{name} must be a dotted path like package.module.Class, got {value!r}")
    return value


def env_rate(name: str, default: str) -> str:
    """A DRF throttle rate such as ``60/min``."""
    value = (os.environ.get(name) or default).strip()
    count, _, period = value.partition("/")
    if not count.isdigit() or period[:1] not in {"s", "m", "h", "d"}:
        raise ImproperlyConfigured(f"{name} must look like '60/min' or '1000/day', got {value!r}")
    return value


def database_from_url(url: str, *, base_dir: Path) -> dict[str, object]:
    """Django DATABASES entry for ``postgres://user:pass@host:port/name`` or ``sqlite:///path``."""
    parts = urlsplit(url)
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL names no database: {url!r}")
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        # No JIT: the site's queries are short, and once the planner has real statistics the
        # search's estimated cost passes jit_above_cost, so PostgreSQL spent about 110 ms
        # compiling a query that runs in 8 ms (bench_pages, 5,000 photos). ?options=... in the
        # URL replaces this, for a pooler that refuses startup options.
        options.setdefault("options", "-c jit=off")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    if parts.scheme == "sqlite":
        # sqlite:///relative/path and sqlite:////absolute/path, as dj-database-url reads them.
        raw_path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not raw_path:
            raise ImproperlyConfigured(f"DATABASE_URL for SQLite needs a file: {url!r}")
        path = Path(raw_path)
        if not path.is_absolute():
            path = base_dir / path
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(path),
            # Web, worker and trainer share one file: wait for a lock instead of failing.
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL must start with postgres:// or sqlite:///, got {parts.scheme or url!r}"
    )


@dataclass(frozen=True)
class Broker:
    url: str
    transport_options: dict[str, object]


def broker_from_url(redis_url: str, *, var_dir: Path) -> Broker:
    """Redis when ``REDIS_URL`` is set; otherwise kombu's filesystem transport (no server)."""
    if redis_url:
        if urlsplit(redis_url).scheme not in {"redis", "rediss"}:
            raise ImproperlyConfigured(f"REDIS_URL must start with redis://, got {redis_url!r}")
        # A task that outlives the visibility timeout would be handed to a second worker.
        return Broker(redis_url, {"visibility_timeout": 6 * 3600})
    folder = var_dir / "broker"
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return Broker(
        # Named host: kombu warned "No hostname was supplied" on every connection otherwise.
        "filesystem://localhost//",
        {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            # Exchange tables; kombu's default is ./control in whatever folder the process started.
            "control_folder": str(folder / "control"),
            "store_processed": False,
        },
    )


def local_secret(var_dir: Path, name: str) -> str:
    """A secret of ``make run``'s own (its SECRET_KEY, the admin's password): made once in
    ``var/<name>``, readable by its owner only, and read back on every later start, so sessions
    and the password survive a restart. Compose never calls this: there a missing SECRET_KEY
    still stops start-up."""
    path = var_dir / name
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two starts at once, one writes the secret and the other reads it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        if not secret:
            raise ImproperlyConfigured(f"{path} is empty: delete it and a new one is made") from None
        return secret
    secret = secrets.token_urlsafe(50 if name == "secret_key" else 18)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    return secret
