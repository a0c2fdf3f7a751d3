"""The API image carries only requirements.txt (no torch, no CUDA). The web process must start and
serve every URL with just those packages, or the compose stack's `api` service dies at boot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata

from tests.helpers.paths import REPO

PROBE = r"""
import importlib.abc, importlib.metadata, sys
ALLOWED = set(sys.argv[1].split(","))
OURS = {"api", "web", "trainer", "tests"}
owners = importlib.metadata.packages_distributions()

def norm(name):
    return name.lower().replace("_", "-")

class OnlyTheApiImage(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        top = fullname.partition(".")[0]
        if top in sys.stdlib_module_names or top in OURS or top.startswith("_"):
            return None
        dists = {norm(d) for d in owners.get(top, [])}
        if dists and not dists & ALLOWED:
            raise ImportError(f"{fullname} ({', '.join(sorted(dists))}) is not in the API image")
        return None

sys.meta_path.insert(0, OnlyTheApiImage())
import django
django.setup()
from django.urls import get_resolver
import api.urls
for pattern in get_resolver().url_patterns:
    getattr(pattern, "callback", None)
from api.celery import app
app.loader.import_default_modules()
print("ok")
"""


def _requirement_names(text: str) -> list[str]:
    names = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0])
    return names


def _with_dependencies(names: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [n.lower().replace("_", "-") for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            todo.append(re.split(r"[<>=!~\[; (]", requirement, maxsplit=1)[0].lower().replace("_", "-"))
    return seen


def test_the_web_process_starts_with_only_the_api_images_packages() -> None:
    allowed = _with_dependencies(_requirement_names((REPO / "requirements.txt").read_text()))
    assert "torch" not in allowed
    result = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(sorted(allowed))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "api.settings"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
