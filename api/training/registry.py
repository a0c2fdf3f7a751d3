"""The model registry: a ``ModelVersion`` row per bundle on the shared volume, which tells its story
(metrics, the gate's reason, status), while the bundle holds the weights. Activation and rollback
are the same move: CURRENT is re-pointed, and photos tagged by other versions get re-tagged.

Only processes that see the volume change write here: tagging workers sync when CURRENT names a
version they have not synced (version 0 they published, a hand-made re-point), the trainer
registers what it publishes and syncs on its sweep, and activation syncs first. Pages and the API
only read the rows (a GET never writes)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from api.tagging.services import active_version, request_tagging
from api.training.models import ModelVersion
from api.volume import models_dir
from trainer import bundle
from trainer.manifest import Manifest

if TYPE_CHECKING:
    from trainer.gate import Verdict

log = logging.getLogger(__name__)


class ActivationRefused(ValueError):
    pass


def sync_versions() -> list[ModelVersion]:
    """Registry rows for bundles on the volume that have none (version 0 is published by the
    first worker, outside any run), and the active flag as CURRENT says."""
    folder = models_dir()
    current = active_version()
    known = set(ModelVersion.objects.values_list("version", flat=True))
    for version in bundle.list_versions(folder):
        if version in known:
            continue
        try:
            manifest = bundle.read_manifest(folder, version)
        except bundle.BundleError as error:
            log.warning("bundle %s is unreadable: %s", version, error)
            continue
        ModelVersion.objects.get_or_create(
            version=version,
            defaults={
                "status": ModelVersion.Status.ACTIVE if version == current else ModelVersion.Status.RETIRED,
                "backbone": manifest.embedding_space,
                "tags": manifest.tags,
                "metrics": manifest.metrics,
                "reason": manifest.description,
                "parent_version": manifest.parent_version,
                "activated_at": timezone.now() if version == current else None,
            },
        )
    if current is not None:
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exclude(version=current).update(
            status=ModelVersion.Status.RETIRED
        )
        ModelVersion.objects.filter(version=current).exclude(status=ModelVersion.Status.ACTIVE).update(
            status=ModelVersion.Status.ACTIVE, activated_at=timezone.now()
        )
    return list(ModelVersion.objects.all())


def sync_versions_or_log() -> bool:
    """:func:`sync_versions` for the background callers (heartbeats, the sweep): a volume that
    cannot be read is logged, never raised into work that must go on. Whether it worked."""
    try:
        sync_versions()
    except Exception:
        log.warning("could not sync the model registry with the volume", exc_info=True)
        return False
    return True


def activate_version(*, version: int) -> ModelVersion:
    """Makes ``version`` the model workers serve (a rollback is the same move). The bundle is
    verified first; a broken one is refused and nothing changes."""
    sync_versions()
    row = ModelVersion.objects.filter(version=version).first()
    if row is None:
        raise ActivationRefused(f"There is no model version {version}.")
    try:
        bundle.activate(models_dir(), version)
    except bundle.BundleError as error:
        raise ActivationRefused(f"Version {version} cannot be activated: {error}") from None
    with transaction.atomic():
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exclude(version=version).update(
            status=ModelVersion.Status.RETIRED
        )
        ModelVersion.objects.filter(version=version).update(
            status=ModelVersion.Status.ACTIVE, activated_at=timezone.now()
        )
        request_tagging()  # photos tagged by other versions get re-tagged
    row.refresh_from_db()
    return row


def next_version() -> int:
    """The number the next published bundle gets: above every bundle on the volume and every row
    (a row may outlive its folder)."""
    known = ModelVersion.objects.aggregate(top=Max("version"))["top"]
    return max(bundle.next_version(models_dir()), (known or 0) + 1)


def register_candidate(manifest: Manifest, verdict: Verdict) -> ModelVersion:
    """The row of a bundle the trainer just published: a candidate when the gate accepted it
    (activation follows), rejected with the gate's reason otherwise."""
    return ModelVersion.objects.create(
        version=manifest.version,
        status=ModelVersion.Status.CANDIDATE if verdict.accepted else ModelVersion.Status.REJECTED,
        backbone=manifest.embedding_space,
        tags=manifest.tags,
        metrics={**manifest.metrics, "gate": verdict.numbers},
        reason=verdict.reason,
        dataset_fingerprint=manifest.dataset_fingerprint or "",
        parent_version=manifest.parent_version,
    )


def record_preview(version: int, preview: dict[str, object]) -> None:
    """The candidate's preview of the library beside its gate's verdict, for the dashboard and the
    activation page."""
    row = ModelVersion.objects.filter(version=version).first()
    if row is not None:
        row.metrics = {**row.metrics, "preview": preview}
        row.save(update_fields=["metrics"])
