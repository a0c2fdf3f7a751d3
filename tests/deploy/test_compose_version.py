"""scripts/compose.sh (what `make up` runs): Docker Compose older than 2.24 is refused with a
message that says so, a newer one runs the command. The ``docker`` on the PATH is a stand-in
that answers a given version: the check is what is under test, not Docker."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

FAKE_DOCKER = """#!/bin/sh
if [ "$1 $2 $3" = "compose version --short" ]; then echo "{version}"; exit 0; fi
echo "ran: $*"
"""


def compose_sh(tmp_path: Path, version: str, *args: str) -> subprocess.CompletedProcess[str]:
    docker = tmp_path / "docker"
    docker.write_text(FAKE_DOCKER.format(version=version))
    docker.chmod(0o755)
    return subprocess.run(
        [str(REPO / "scripts" / "compose.sh"), *args],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("version", ["2.23.3", "v2.20.0", "1.29.2"])
def test_a_compose_older_than_2_24_is_refused_with_the_reason(tmp_path: Path, version: str) -> None:
    done = compose_sh(tmp_path, version, "up", "-d")
    assert done.returncode == 1
    assert f"Docker Compose {version.removeprefix('v')} is too old" in done.stderr
    assert "ran:" not in done.stdout


@pytest.mark.parametrize("version", ["2.24.0", "v2.40.3", "3.0.1"])
def test_a_compose_of_2_24_or_newer_runs_the_command(tmp_path: Path, version: str) -> None:
    done = compose_sh(tmp_path, version, "up", "-d", "--wait")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ran: compose up -d --wait"


def test_no_compose_at_all_says_what_is_needed(tmp_path: Path) -> None:
    done = subprocess.run([str(REPO / "scripts" / "compose.sh"), "ps"], env={"PATH": str(tmp_path)},
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1 and "needs 2.24 or newer" in done.stderr
