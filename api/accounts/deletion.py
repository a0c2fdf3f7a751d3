"""Deleting an account, and everything of the person's with it.

What goes: their photos (rows, and every file on the volume that no other row uses: the
original and its thumbnails), with everything on those photos (tags, votes, embeddings, comments
and favourites by anyone, album entries, notifications about them); their own comments,
favourites, votes, follows both ways, profile, albums (with their entries and members), album
memberships, notifications to and from them, API token, sessions and the admin's log of them;
the tags they suggested on others' photos that nobody else vouched for (as withdrawing one
does), and tag names nothing uses any more.

What stays: other people's photos, and the tags on them that someone else vouched for. Those
lose the person's vote and their name (``added_by`` is cleared), and their state is worked out
again from the votes that remain. Model versions and training runs stay, since a published model
holds no one's rows, only weights and tag names: the runs' "requested by" is cleared and the
preview examples naming their photos are dropped from the metrics.

Rows go in one transaction, files only after it commits: a crash before the commit loses
nothing, and one after it leaves at worst files no row names, never a row without its file.
"""

from __future__ import annotations

import logging

from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Count, Q

from api.photos import storage
from api.photos.models import Photo
from api.tags.models import PhotoTag, Tag, TagSource, TagVote
from api.tags.services import recompute_state
from api.training.models import ModelVersion, TrainingRun

log = logging.getLogger(__name__)


def delete_account(*, user: User) -> None:
    with transaction.atomic():
        photos = list(Photo.objects.filter(owner=user).values_list("pk", "content_hash", "file_ext"))
        photo_ids = {pk for pk, _, _ in photos}
        others = PhotoTag.objects.exclude(photo__owner=user)
        tag_ids = set(
            PhotoTag.objects.filter(Q(photo__owner=user) | Q(added_by=user)).values_list("tag_id", flat=True)
        )
        # Their suggestions nobody else vouched for are withdrawn, as remove_tag would.
        others.filter(added_by=user, source=TagSource.USER).annotate(
            backers=Count("votes", filter=~Q(votes__user=user))
        ).filter(backers=0).delete()
        voted_on = list(others.filter(votes__user=user).select_related("photo"))
        TagVote.objects.filter(user=user).delete()
        for photo_tag in voted_on:
            recompute_state(photo_tag)
        _forget_sessions(user)
        _forget_admin_log(user, photo_ids)
        _forget_preview_examples(photo_ids)
        user.delete()  # the rest cascades (the foreign keys say how: see the module docstring)
        Tag.objects.filter(pk__in=tag_ids, photo_tags__isnull=True).delete()
        files = {(content_hash, ext) for _, content_hash, ext in photos}
        transaction.on_commit(lambda: _remove_unused_files(files))


def _remove_unused_files(files: set[tuple[str, str]]) -> None:
    for content_hash, ext in files:
        # Someone else may have uploaded the same file: it is stored once and stays theirs.
        if not Photo.objects.filter(content_hash=content_hash).exists():
            try:
                storage.remove_files(content_hash, ext)
            except OSError:
                log.exception("could not remove the files of %s after deleting an account", content_hash)


def _forget_sessions(user: User) -> None:
    """Sessions are not tied to users by a key, only by the id in their data."""
    ours = str(user.pk)
    stale = [
        session.pk
        for session in Session.objects.iterator(chunk_size=500)
        if session.get_decoded().get("_auth_user_id") == ours
    ]
    Session.objects.filter(pk__in=stale).delete()


def _forget_admin_log(user: User, photo_ids: set[int]) -> None:
    """The admin's history names the objects it changed (a caption, a username) in words."""
    about_user = Q(content_type=ContentType.objects.get_for_model(User), object_id=str(user.pk))
    about_photos = Q(
        content_type=ContentType.objects.get_for_model(Photo), object_id__in=[str(pk) for pk in photo_ids]
    )
    LogEntry.objects.filter(about_user | about_photos).delete()


def _forget_preview_examples(photo_ids: set[int]) -> None:
    """A run's and a version's preview keep five example photo ids of each kind of change."""
    if not photo_ids:
        return
    for model in (TrainingRun, ModelVersion):
        for row in model.objects.exclude(metrics={}).only("pk", "metrics").iterator(chunk_size=200):
            preview = row.metrics.get("preview") if isinstance(row.metrics, dict) else None
            if not isinstance(preview, dict) or not isinstance(preview.get("examples"), dict):
                continue
            examples: dict[str, object] = preview["examples"]
            kept = {
                kind: [e for e in listed if not (isinstance(e, dict) and e.get("photo") in photo_ids)]
                for kind, listed in examples.items()
                if isinstance(listed, list)
            }
            if kept != examples:
                row.metrics = {**row.metrics, "preview": {**preview, "examples": kept}}
                row.save(update_fields=["metrics"])
