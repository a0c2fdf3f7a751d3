"""Model bundles on the shared volume and the protocol that publishes them (docs/architecture.md,
'The publishing protocol').

``<models>/<version>/`` holds ``manifest.json`` (a :class:`trainer.manifest.Manifest`) and
safetensors weights. A bundle is written under a temporary name, fsynced and renamed into place,
so a reader sees all of it or none of it; ``<models>/CURRENT`` names the active version and is
replaced atomically. Loading verifies every checksum, so a damaged bundle is refused instead of
served.
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
from typing import TYPE_CHECKING

from trainer.manifest import BACKBONE_FILE, BundleError, Manifest

if TYPE_CHECKING:
    import torch

MANIFEST = "manifest.json"
CURRENT = "CURRENT"
Tensors = Mapping[str, "torch.Tensor"]


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


def publish(models_dir: Path, manifest: Manifest, *, head: Tensors, backbone: Tensors | None = None) -> Path:
    """Writes the head's tensors (and a fine-tuned backbone's, which travel in the bundle) and the
    manifest as version ``manifest.version``. Fails if that version exists: published bundles never
    change."""
    from safetensors.torch import save_file

    models_dir = Path(models_dir)
    version = manifest.version
    if manifest.backbone.tuned and backbone is None:
        raise BundleError(f"version {version} has a fine-tuned backbone, but its weights were not given")
    if backbone is not None and not manifest.backbone.tuned:
        raise BundleError(
            f"version {version} uses the package's backbone weights, yet backbone weights were given"
        )
    tensors = {manifest.head.file: head, **({BACKBONE_FILE: backbone} if backbone is not None else {})}
    models_dir.mkdir(parents=True, exist_ok=True)
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
        full = manifest.published(checksums=checksums, created_at=datetime.now(UTC).isoformat())
        (staging / MANIFEST).write_text(json.dumps(full.to_dict(), indent=2, sort_keys=True))
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


def read_manifest(models_dir: Path, version: int) -> Manifest:
    path = bundle_dir(models_dir, version) / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"version {version} has no manifest (is it published?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"version {version} has an unreadable manifest: {error}") from None
    if not isinstance(data, dict):
        raise BundleError(f"version {version}'s manifest is not a JSON object")
    return Manifest.from_dict(data, version=version)


def verify(models_dir: Path, version: int) -> Manifest:
    """The manifest, after checking every weight file against its checksum."""
    manifest = read_manifest(models_dir, version)
    folder = bundle_dir(models_dir, version)
    for filename, expected in manifest.checksums.items():
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


def load_tensors(models_dir: Path, version: int, filename: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(bundle_dir(models_dir, version) / filename))


def load_head(models_dir: Path, manifest: Manifest) -> tuple[torch.Tensor, torch.Tensor]:
    """The head's weight and bias, as the manifest names their file."""
    state = load_tensors(models_dir, manifest.version, manifest.head.file)
    return state["weight"], state["bias"]


def load_backbone_state(models_dir: Path, manifest: Manifest) -> dict[str, torch.Tensor] | None:
    """A fine-tuned backbone's body, which travels in its bundle; None for the package's weights."""
    if not manifest.backbone.tuned:
        return None
    return load_tensors(models_dir, manifest.version, BACKBONE_FILE)


def day_zero_for(models_dir: Path, backbone_id: str) -> int | None:
    """The day-zero bundle that stands on ``backbone_id`` (its ImageNet head on the package
    weights), or None when there is none yet."""
    for version in list_versions(models_dir):
        try:
            manifest = read_manifest(models_dir, version)
        except BundleError:
            continue  # a damaged bundle is reported where it is served, not here
        if manifest.head.kind == "softmax_classes" and manifest.embedding_space == backbone_id:
            return version
    return None
