"""The OpenAPI schema covers the paths the README's REST API table promises, and the docs work with no
internet."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.django_db

PROMISED = {
    "/api/auth/register/": {"post"},
    "/api/auth/token/": {"post"},
    "/api/photos/": {"get", "post"},
    "/api/photos/{id}/": {"get", "patch", "delete"},
    "/api/photos/{id}/tags/": {"post"},
    "/api/photos/{id}/tags/{name}/": {"delete"},
    "/api/photos/{id}/tags/{name}/confirm/": {"post"},
    "/api/photos/{id}/tags/{name}/reject/": {"post"},
    "/api/tags/": {"get"},
}


def test_the_schema_lists_every_promised_path_and_method(client: Any) -> None:
    response = client.get("/api/schema/")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = {re.sub(r"\{pk\}", "{id}", path): set(ops) for path, ops in schema["paths"].items()}
    for path, methods in PROMISED.items():
        assert path in paths, path
        assert methods <= paths[path], (path, paths[path])


def test_the_docs_page_loads_its_assets_from_this_site(client: Any) -> None:
    page = client.get("/api/docs/")

    assert page.status_code == 200
    assets = re.findall(rb'(?:src|href)="([^"]+)"', page.content)
    assert assets, "the docs page references no assets"
    for asset in assets:
        assert asset.startswith(b"/"), f"{asset!r} would need the internet"
        assert client.get(asset.decode()).status_code == 200, asset
