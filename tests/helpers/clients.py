"""API clients signed in as a user, uploads through them, and the files left on the volume."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from rest_framework.test import APIClient

from api.accounts.services import token_for


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def upload(client: APIClient, data: bytes, name: str = "photo.jpg", **fields: Any) -> Any:
    file = io.BytesIO(data)
    file.name = name
    return client.post("/api/photos/", {"image": file, **fields}, format="multipart")
