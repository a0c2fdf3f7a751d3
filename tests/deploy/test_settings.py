"""Settings come from the environment, typed, and fail loudly on bad values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from api.config import (
    broker_from_url,
    database_from_url,
    env_bool,
    env_dotted_path,
    env_email,
    env_int,
    env_rate,
    local_secret,
)
from tests.helpers.paths import REPO


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("yes", True), ("off", False), ("0", False)])
def test_booleans_read_the_usual_spellings(monkeypatch: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG", not value) is value


@pytest.mark.parametrize(
    ("reader", "raw", "message"),
    [
        (lambda: env_bool("FLAG", False), "maybe", "FLAG must be a boolean"),
        (lambda: env_int("FLAG", 1), "12MB", "FLAG must be an integer"),
        (lambda: env_int("FLAG", 1, minimum=5), "3", "FLAG must be at least 5"),
        (lambda: env_rate("FLAG", "1/min"), "fast", "FLAG must look like"),
        (lambda: env_email("FLAG", "a@b.org"), "Tagloop <noreply>", "FLAG must be an e-mail address"),
        (lambda: env_dotted_path("FLAG", "a.B"), "smtp", "FLAG must be a dotted path"),
    ],
)
def test_a_bad_value_stops_start_up_with_its_name(
    monkeypatch: pytest.MonkeyPatch, reader: object, raw: str, message: str
) -> None:
    monkeypatch.setenv("FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match=message):
        reader()  # type: ignore[operator]


def test_the_sender_may_carry_a_display_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAG", "Tagloop <noreply@example.org>")

    assert env_email("FLAG", "x@y.org") == "Tagloop <noreply@example.org>"


def test_a_postgres_url_becomes_a_psycopg_database() -> None:
    db = database_from_url("postgres://tag:s%40cret@db:5433/tagloop?sslmode=disable", base_dir=Path("/x"))

    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "tagloop",
        "tag",
        "s@cret",
        "db",
        "5433",
    )
    # JIT off unless the URL says otherwise (api/config.py says why).
    assert db["OPTIONS"] == {"sslmode": "disable", "options": "-c jit=off"}
    chosen = database_from_url("postgres://db/tagloop?options=-c%20work_mem%3D8MB", base_dir=Path("/x"))
    assert chosen["OPTIONS"] == {"options": "-c work_mem=8MB"}


@pytest.mark.django_db
def test_the_sites_postgresql_connections_compile_no_queries_with_jit() -> None:
    from django.db import connection

    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)


def test_a_sqlite_url_is_the_embedded_default_database(tmp_path: Path) -> None:
    assert database_from_url("sqlite:///var/site.db", base_dir=tmp_path)["NAME"] == str(
        tmp_path / "var/site.db"
    )
    assert database_from_url(f"sqlite:///{tmp_path}/a.db", base_dir=Path("/"))["NAME"] == f"{tmp_path}/a.db"
    with pytest.raises(ImproperlyConfigured, match="must start with postgres"):
        database_from_url("mysql://x/y", base_dir=tmp_path)


def test_without_redis_the_broker_needs_no_server(tmp_path: Path) -> None:
    broker = broker_from_url("", var_dir=tmp_path)

    assert broker.url == "filesystem://localhost//"
    assert Path(str(broker.transport_options["data_folder_in"])).is_dir()
    assert broker_from_url("redis://r:6379/0", var_dir=tmp_path).url == "redis://r:6379/0"
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        broker_from_url("amqp://x", var_dir=tmp_path)


def _start_django(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
    }
    clean.update(VAR_DIR=str(tmp_path / "var"), SHARED_FS=str(tmp_path / "fs"), **env)
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=clean, capture_output=True, text=True, timeout=60
    )


def test_make_runs_secret_key_is_made_once_under_var_for_its_owner_only_and_reused(tmp_path: Path) -> None:
    first = local_secret(tmp_path / "var", "secret_key")
    again = local_secret(tmp_path / "var", "secret_key")

    assert len(first) >= 50 and again == first
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert local_secret(tmp_path / "var", "admin_password") != first


def test_secret_key_is_required_when_debug_is_off(tmp_path: Path) -> None:
    result = _start_django(tmp_path, DEBUG="0")

    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_with_nothing_set_the_site_runs_on_sqlite(tmp_path: Path) -> None:
    result = _start_django(tmp_path, DEBUG="1")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3"


def _settings_of(tmp_path: Path, names: list[str], **env: str) -> dict[str, object]:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
    }
    clean.update(VAR_DIR=str(tmp_path / "var"), SHARED_FS=str(tmp_path / "fs"), **env)
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


COOKIE_SETTINGS = [
    "DEBUG",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SAMESITE",
    "SECURE_PROXY_SSL_HEADER",
]


def test_as_compose_runs_it_debug_is_off_and_cookies_are_secure_when_asked(tmp_path: Path) -> None:
    production = _settings_of(tmp_path, COOKIE_SETTINGS, DEBUG="0", SECRET_KEY="k" * 50, SECURE_COOKIES="1")

    assert production == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        # Scripts never read the session cookie; they do read the CSRF one (site.js).
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SAMESITE": "Lax",
        # nginx says when the browser used https, so Django marks and checks cookies right.
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }
