"""The API image carries no torch (docs/architecture.md, 'Services and what talks to what'): the
web process must run without importing it."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.paths import REPO
from tests.helpers.workers import worker_env


def test_the_web_process_and_its_task_senders_never_import_torch() -> None:
    code = (
        "import sys, django; django.setup(); "
        "import api.urls, api.wsgi; from api.celery import app; app.loader.import_default_modules(); "
        "import api.tagging.tasks, api.tagging.selectors, api.photos.services; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'torchvision', 'timm'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=worker_env(), capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
