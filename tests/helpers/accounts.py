"""An account with a bit of everything in it, for the deletion tests, and the search for any
trace of it afterwards: every table, every key that points at it, every text column, the disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import models

from api import volume
from api.accounts.services import token_for
from api.albums import services as albums
from api.albums.models import AlbumMember, Role
from api.photos.models import Photo
from api.photos.services import upload_photo
from api.social import services as social
from api.tagging.models import PhotoEmbedding
from api.tags import services as tags
from api.tags.models import PhotoTag, Tag, TagSource, TagState, Vote
from api.training.models import ModelVersion, TrainingRun
from tests.helpers.images import image_bytes

# In the leaver's username and every text they wrote, so a scan of every text column finds
# leftovers.
MARK = "zedmark"


@dataclass
class Life:
    """The leaver's rows, by model, and the files that are theirs alone."""

    user: User
    rows: dict[type[models.Model], set[int]] = field(default_factory=dict)
    own_files: list[Path] = field(default_factory=list)
    shared_files: list[Path] = field(default_factory=list)

    def add(self, model: type[models.Model], *pks: int) -> None:
        self.rows.setdefault(model, set()).update(pks)


def files_of(photo: Photo) -> list[Path]:
    return [
        volume.original_path(photo.content_hash, photo.file_ext),
        *(volume.thumb_path(photo.content_hash, size) for size in volume.THUMB_SIZES),
    ]


def live_a_full_life(zed: User, bob: User, carol: User, staff: User) -> Life:
    """Zed uploads, tags, votes, comments, favourites, follows, makes albums and joins one, has a
    profile with an avatar, an embedding, a token, a session's worth of rows around them; Bob and
    Carol answer in kind. Zed uploads one file Bob uploaded too: it is Bob's as well."""
    life = Life(zed)
    bobs = upload_photo(owner=bob, data=image_bytes(color=(10, 200, 10)), caption="bob's beach")
    shared_data = image_bytes(color=(1, 100, 1))
    upload_photo(owner=bob, data=shared_data, caption="bob's copy")
    public = upload_photo(
        owner=zed, data=image_bytes(color=(200, 1, 1)), caption=f"{MARK} public", tag_names=[f"{MARK}tag"]
    )
    private = upload_photo(owner=zed, data=image_bytes(color=(1, 1, 200)), caption=f"{MARK} private",
                           visibility="private")  # fmt: skip
    copy = upload_photo(owner=zed, data=shared_data, caption=f"{MARK} same file as bob's")
    Photo.objects.filter(pk=private.pk).update(near_duplicate_of=public)
    life.add(Photo, public.pk, private.pk, copy.pk)
    life.own_files = files_of(public) + files_of(private)
    life.shared_files = files_of(copy)

    # Tags and votes, both ways.
    model_tag = PhotoTag.objects.create(
        photo=public, tag=Tag.objects.get_or_create(name="cat")[0], source=TagSource.MODEL,
        state=TagState.SUGGESTED, score=0.8, model_version=0,
    )  # fmt: skip
    tags.vote(photo=public, user=bob, name="cat", value=Vote.CONFIRM)
    PhotoTag.objects.create(
        photo=bobs, tag=Tag.objects.get_or_create(name="beach")[0], source=TagSource.MODEL,
        state=TagState.SUGGESTED, score=0.7, model_version=0,
    )  # fmt: skip
    tags.vote(photo=bobs, user=zed, name="beach", value=Vote.CONFIRM)
    lonely = tags.add_tag(photo=bobs, user=zed, name=f"{MARK}lonely")
    tags.add_tag(photo=bobs, user=zed, name="sunset")
    tags.vote(photo=bobs, user=carol, name="sunset", value=Vote.CONFIRM)
    life.add(
        PhotoTag,
        model_tag.pk,
        lonely.pk,
        *PhotoTag.objects.filter(photo__owner=zed).values_list("pk", flat=True),
    )

    # Comments, favourites, follows, profile and avatar.
    for comment in (
        social.add_comment(author=zed, photo=bobs, text=f"{MARK} says hi"),
        social.add_comment(author=bob, photo=public, text="nice one"),
    ):
        life.add(type(comment), comment.pk)
    social.add_comment(author=bob, photo=bobs, text="my own beach")
    social.favourite(user=zed, photo=bobs)
    social.favourite(user=bob, photo=public)
    social.favourite(user=bob, photo=bobs)
    social.follow(follower=zed, username="bob")
    social.follow(follower=bob, username=zed.username)
    social.follow(follower=carol, username="bob")
    social.update_profile(user=zed, bio=f"{MARK} bio", avatar=public.pk)

    # Albums: Zed's own with Bob in it; Bob's with Zed contributing (and Zed's photo as cover).
    mine = albums.create_album(owner=zed, title=f"{MARK} album", visibility="public")
    albums.add_photos(user=zed, album=mine, photo_ids=[public.pk, private.pk])
    albums.invite(user=zed, album=mine, username="bob", role=Role.VIEWER)
    theirs = albums.create_album(owner=bob, title="bob's album", visibility="public")
    albums.add_photos(user=bob, album=theirs, photo_ids=[bobs.pk])
    albums.invite(user=bob, album=theirs, username=zed.username, role=Role.CONTRIBUTOR)
    albums.add_photos(user=zed, album=theirs, photo_ids=[public.pk])
    albums.update_album(user=bob, album=theirs, cover=public.pk)
    life.add(type(mine), mine.pk)
    life.add(AlbumMember, *AlbumMember.objects.filter(user=zed).values_list("pk", flat=True))

    # The model's side: an embedding; a run Zed started and a version whose previews name photos.
    PhotoEmbedding.objects.create(
        photo=public, backbone="efficientnet_lite0", dim=4, vector=np.ones(4, dtype=np.float16).tobytes()
    )
    examples = {"gained": [{"photo": public.pk, "before": None, "after": "cat"},
                           {"photo": bobs.pk, "before": None, "after": "beach"}]}  # fmt: skip
    TrainingRun.objects.create(trigger=TrainingRun.Trigger.API, status=TrainingRun.Status.SUCCEEDED,
                               requested_by=zed, metrics={"preview": {"examples": examples}})  # fmt: skip
    ModelVersion.objects.create(version=1, backbone="efficientnet_lite0", tags=["cat", "beach"],
                                metrics={"preview": {"examples": examples}})  # fmt: skip

    # A token, and what the admin remembers of Zed's photo.
    token_for(zed)
    LogEntry.objects.create(
        user=staff, content_type=ContentType.objects.get_for_model(Photo), object_id=str(public.pk),
        object_repr=f"{MARK} public", action_flag=CHANGE, change_message="[]",
    )  # fmt: skip
    return life


def traces(life: Life) -> list[str]:
    """Everything of the leaver's still in the database: their rows, any key in any table
    pointing at one of them, any text that names them, a session that is theirs."""
    found: list[str] = []
    pk = life.user.pk
    rows: dict[type[models.Model], set[int]] = {**life.rows, User: {pk}}
    for model, pks in rows.items():
        if model._default_manager.filter(pk__in=pks).exists():
            found.append(f"{model.__name__} rows {sorted(pks)} are still there")
    for model in apps.get_models(include_auto_created=True):
        for column in model._meta.concrete_fields:
            target = column.related_model if column.is_relation else None
            if target is not None and target in rows:
                pointing = model._default_manager.filter(**{f"{column.name}__in": rows[target]})
                if pointing.exists():
                    found.append(f"{model.__name__}.{column.name} still points at {target.__name__}")
            elif isinstance(column, models.CharField | models.TextField | models.JSONField):
                if isinstance(column, models.JSONField):
                    continue  # the metrics are read below; no other JSON column holds people's words
                if model._default_manager.filter(**{f"{column.name}__icontains": MARK}).exists():
                    found.append(f"{model.__name__}.{column.name} still names them")
    for model in (TrainingRun, ModelVersion):
        for metrics in model.objects.values_list("metrics", flat=True):
            if any(
                example.get("photo") in rows[Photo]
                for listed in metrics.get("preview", {}).get("examples", {}).values()
                for example in listed
            ):
                found.append(f"a {model.__name__}'s preview still names their photo")
    if any(s.get_decoded().get("_auth_user_id") == str(pk) for s in Session.objects.all()):
        found.append("a session of theirs is still there")
    return found
