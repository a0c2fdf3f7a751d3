"""Tests whose SQL or search differs by database, again on SQLite, make run's embedded default
(the suite itself runs on PostgreSQL): the search box (a caption match with LIKE, a subquery in a
CASE), which labels count (raw SQL), and similar photos and near-duplicates (numpy instead of
pgvector's index)."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.helpers.paths import REPO


@pytest.mark.parametrize(
    ("tests", "at_least"),
    [
        ("tests/web/test_search_box.py", 5),
        ("tests/training/test_training.py::TestWhichLabelsCount", 5),
        ("tests/photos/test_similar_and_duplicates.py", 10),
    ],
    ids=["the search box", "which labels count", "similar photos and near-duplicates"],
)
def test_on_sqlite_the_same_tests_pass(tests: str, at_least: int, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(VAR_DIR=str(tmp_path / "var"), DEBUG="1")

    report = tmp_path / "report.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
    result = subprocess.run(
        [*command, tests],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert int(suite.get("tests", "0")) >= at_least
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("0", "0", "0")
