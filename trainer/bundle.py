"""Model bundles on the shared volume and the protocol that publishes them (DESIGN.md,
'Publishing weights').

``<models>/<version>/`` holds ``manifest.json`` and safetensors weights. A bundle is written under
a temporary name, fsynced and renamed into place, so a reader sees all of it or none of it;
``<models>/CURRENT`` names the active version and is replaced atomically. Loading verifies every
checksum, so a damaged bundle is refused instead of served.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CURRENT = "CURRENT"
REQUIRED_KEYS = (
    "format_version",
    "version",
    "backbone",
    "preprocessing",
    "head",
    "tags",
    "thresholds",
    "checksums",
)


class BundleError(Exception):
    """A bundle that cannot be published or loaded; the message says what is wrong."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def bundle_dir(models_dir: Path, version: int) -> Path:
    return Path(models_dir) / str(int(version))


def list_versions(models_dir: Path) -> list[int]:
    root = Path(models_dir)
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(models_dir: Path) -> int:
    versions = list_versions(models_dir)
    return versions[-1] + 1 if versions else 0


def publish(
    models_dir: Path,
    manifest: Mapping[str, Any],
    tensors: Mapping[str, Mapping[str, Any]],
) -> Path:
    """Writes ``tensors`` (file name -> {tensor name: torch tensor}) and the manifest as version
    ``manifest['version']``. Fails if that version exists: published bundles never change."""
    from safetensors.torch import save_file

    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    version = int(manifest["version"])
    final = bundle_dir(models_dir, version)
    if final.exists():
        raise BundleError(f"version {version} is already published")
    staging = Path(tempfile.mkdtemp(dir=models_dir, prefix=f".tmp-{version}-"))
    try:
        checksums: dict[str, str] = {}
        for filename, named in tensors.items():
            path = staging / filename
            save_file({k: v.detach().contiguous().cpu() for k, v in named.items()}, str(path))
            _fsync_file(path)
            checksums[filename] = sha256_file(path)
        full = {
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(),
            **manifest,
            "checksums": checksums,
        }
        (staging / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=True))
        _fsync_file(staging / MANIFEST)
        os.chmod(staging, 0o755)
        _fsync_dir(staging)
        try:
            os.rename(staging, final)  # atomic; fails if a concurrent publisher won
        except OSError as error:
            raise BundleError(f"version {version} could not be put in place: {error}") from error
        _fsync_dir(models_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def activate(models_dir: Path, version: int) -> None:
    """Points CURRENT at ``version`` (which must verify): an atomic replace, so workers read either
    the old name or the new one."""
    verify(models_dir, version)
    models_dir = Path(models_dir)
    fd, tmp = tempfile.mkstemp(dir=models_dir, prefix=".CURRENT-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{int(version)}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, models_dir / CURRENT)
        _fsync_dir(models_dir)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def current_version(models_dir: Path) -> int | None:
    try:
        text = (Path(models_dir) / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    if not text.isdigit():
        raise BundleError(f"CURRENT holds {text[:40]!r}, not a version number")
    return int(text)


def embedding_space(manifest: Mapping[str, Any]) -> str:
    """Which embeddings a bundle's backbone makes: its registry id, or the id and the version that
    fine-tuned it, whose embeddings are not comparable with the original backbone's."""
    backbone = manifest["backbone"]
    return f"{backbone['id']}+{backbone['tuned']}" if backbone.get("tuned") else str(backbone["id"])


def read_manifest(models_dir: Path, version: int) -> dict[str, Any]:
    path = bundle_dir(models_dir, version) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"version {version} has no manifest (is it published?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"version {version} has an unreadable manifest: {error}") from None
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise BundleError(f"version {version}'s manifest lacks {', '.join(missing)}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise BundleError(
            f"version {version} has bundle format {manifest['format_version']}, expected {FORMAT_VERSION}"
        )
    if len(manifest["tags"]) != len(manifest["thresholds"]):
        raise BundleError(
            f"version {version} has {len(manifest['tags'])} tags but {len(manifest['thresholds'])} thresholds"
        )
    return dict(manifest)


def verify(models_dir: Path, version: int) -> dict[str, Any]:
    """The manifest, after checking every weight file against its checksum."""
    manifest = read_manifest(models_dir, version)
    folder = bundle_dir(models_dir, version)
    for filename, expected in manifest["checksums"].items():
        path = folder / filename
        if not path.is_file():
            raise BundleError(f"version {version} is missing {filename}")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(
                f"version {version}: {filename} is damaged "
                f"(checksum {actual[:12]}…, expected {expected[:12]}…)"
            )
    return manifest


def load_tensors(models_dir: Path, version: int, filename: str) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(bundle_dir(models_dir, version) / filename))
