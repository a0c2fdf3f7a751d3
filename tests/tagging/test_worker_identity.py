"""A worker's name (api/tagging/services.worker_name): unique per start of a process, even when a
restarted container comes back with the same host name and the same pid."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers.paths import REPO

AS_PID_ONE_ON_BOX = """
import os, socket
os.getpid = lambda: 1
socket.gethostname = lambda: "box"
import django
django.setup()
from api.tagging.services import worker_name
print(worker_name(), worker_name())
"""


def started_in_a_container() -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", AS_PID_ONE_ON_BOX],
        cwd=REPO,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "api.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def test_a_process_keeps_one_name_while_it_runs() -> None:
    first, again = started_in_a_container()
    assert first == again and first.startswith("box:1:")


def test_a_restarted_process_with_the_same_host_and_pid_gets_a_new_name() -> None:
    before, _ = started_in_a_container()
    after, _ = started_in_a_container()
    assert before.startswith("box:1:") and after.startswith("box:1:")
    assert before != after
