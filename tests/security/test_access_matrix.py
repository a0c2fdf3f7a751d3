"""Who may do what: every URL pattern of the site and API, for four people (anonymous, another
signed-in user, the owner, staff) and photos of each visibility (public, unlisted with and
without its share link, private).

Each cell checks three things: the answer (allowed, or refused with 401/403/404 or a redirect to
a log-in page), that a refused request wrote nothing and an allowed write did write, and that no
response shows anything of a photo the person may not see (caption, tags, share token, file and
page links) nor any photo's location except to its owner.

``test_every_url_pattern_is_in_the_matrix`` fails when a URL pattern (or, for DRF views, a method)
has no row. To add one, append a ``Row`` to ``ROWS`` below: the URL name, the method, who may
(``ANYONE``, ``SIGNED_IN``, ``STAFF``, or for a photo's URL ``VIEWER``, ``OWNER``, ``TAGGER``,
``LINK``), how the URL is built from the world and the photo, and ``writes=True`` when an allowed
request must change something. Admin URLs are covered by the admin test at the end. For example::

    Row("photo-similar", "GET", VIEWER, photo_url("/api/photos/{pk}/similar/", "share"), token="share"),
    Row("web:help", "GET", SIGNED_IN, fixed("/help/")),
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.views.generic.edit import ProcessFormView
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from api.accounts.services import token_for
from api.albums.models import Album, AlbumMember, AlbumPhoto
from api.notifications.models import Notification
from api.photos.models import Photo
from api.photos.services import upload_photo
from api.social.models import Comment, Favourite, Follow, Profile
from api.tagging.models import PhotoEmbedding
from api.tags.models import PhotoTag, Tag, TagSource, TagState, TagVote
from api.training.models import ModelVersion, TrainingRun
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db

PASSWORD = "a-strong-pass-42"
ACTORS = ("anonymous", "user", "owner", "staff")
VISIBILITIES = ("public", "unlisted", "private")
# Far from any number a page shows by chance; one per photo, so a leak names its photo.
LATITUDES = {"public": 11.1234567, "unlisted": 22.1234567, "private": 33.1234567}


@dataclass
class World:
    people: dict[str, User | None]
    photos: dict[str, Photo]
    run: TrainingRun
    version: ModelVersion
    # One album of the owner's per visibility, each holding all three photos.
    albums: dict[str, Album] = field(default_factory=dict)
    # A photo of each signed-in person's own, in no album, to add to one.
    spare: dict[str, Photo] = field(default_factory=dict)
    # The owner's comment on each photo, by the photo's visibility.
    comments: dict[str, int] = field(default_factory=dict)

    def markers(self, visibility: str) -> list[str]:
        """Text that would show that a person saw something of this photo."""
        photo = self.photos[visibility]
        found = [
            photo.caption,
            f"tag{visibility}",
            f"model{visibility}",
            f"/files/photos/{photo.pk}/",
            f"/p/{photo.pk}/",
            f"comment-{visibility}-only-its-viewers-see",
        ]
        return found + ([photo.share_token] if visibility != "public" else [])


def build_world(make_user: Callable[..., User]) -> World:
    owner, user = make_user("owner"), make_user("user")
    staff = make_user("staff", staff=True)
    staff.is_superuser = True  # the most any staff member could see
    staff.save(update_fields=["is_superuser"])
    photos = {}
    for n, visibility in enumerate(VISIBILITIES):
        photo = upload_photo(
            owner=owner,
            data=image_bytes(color=(n * 70, 20, 200)),
            caption=f"caption-{visibility}-only-its-viewers-see",
            visibility=visibility,
            tag_names=[f"tag{visibility}"],
        )
        Photo.objects.filter(pk=photo.pk).update(latitude=LATITUDES[visibility], longitude=-45.7654321)
        PhotoTag.objects.create(
            photo=photo,
            tag=Tag.objects.create(name=f"model{visibility}"),
            source=TagSource.MODEL,
            state=TagState.SUGGESTED,
            score=0.9,
            model_version=0,
        )
        # Nearly the same embedding for all three: each is the others' most similar photo, so
        # similar-photo results would show a private or unlisted one if they could.
        vector = np.full(1280, 0.5, dtype=np.float16)
        vector[n] = 0.6
        PhotoEmbedding.objects.create(
            photo=photo, backbone="efficientnet_lite0", dim=1280, vector=vector.tobytes()
        )
        photos[visibility] = Photo.objects.get(pk=photo.pk)
    for person in (owner, user, staff):
        token_for(person)  # made now, so a later token request writes nothing new
    run = TrainingRun.objects.create(trigger=TrainingRun.Trigger.API, status=TrainingRun.Status.FAILED)
    version = ModelVersion.objects.create(version=7, backbone="test")
    comments = {
        visibility: Comment.objects.create(
            photo=photo, author=owner, body=f"comment-{visibility}-only-its-viewers-see"
        ).pk
        for visibility, photo in photos.items()
    }
    albums = {}
    for visibility in VISIBILITIES:
        album = Album.objects.create(
            owner=owner, title=f"album-{visibility}-only-its-viewers-see", visibility=visibility
        )
        for position, photo in enumerate(photos.values()):
            AlbumPhoto.objects.create(album=album, photo=photo, position=position, added_by=owner)
        albums[visibility] = album
    people = {"anonymous": None, "owner": owner, "user": user, "staff": staff}
    make_user("someone")  # to be followed
    Follow.objects.create(follower=user, followee=owner)  # their feed must show only public photos
    signed_in = [("owner", owner), ("user", user), ("staff", staff)]
    spare = {actor: upload_photo(owner=person, data=image_bytes(color=(n * 60, 7, 7)), visibility="private")
             for n, (actor, person) in enumerate(signed_in)}  # fmt: skip
    return World(people, photos, run, version, albums, spare, comments)


def snapshot() -> tuple[Any, ...]:
    """Everything a request in the matrix could change."""
    return (
        tuple(Album.objects.order_by("pk").values_list("pk", "title", "visibility", "cover")),
        tuple(AlbumPhoto.objects.order_by("pk").values_list("pk", "photo", "position")),
        tuple(AlbumMember.objects.order_by("pk").values_list("pk", "user", "role")),
        tuple(Favourite.objects.order_by("pk").values_list("pk", "user", "photo")),
        tuple(Comment.objects.order_by("pk").values_list("pk", "body")),
        tuple(Follow.objects.order_by("pk").values_list("pk", "follower", "followee")),
        tuple(Notification.objects.order_by("pk").values_list("pk", "read_at")),
        tuple(Profile.objects.order_by("pk").values_list("pk", "bio", "avatar")),
        tuple(Photo.objects.order_by("pk").values_list("pk", "caption", "visibility", "show_location")),
        tuple(PhotoTag.objects.order_by("pk").values_list("pk", "state")),
        tuple(TagVote.objects.order_by("pk").values_list("pk", "value")),
        tuple(User.objects.order_by("pk").values_list("pk", "password", "email")),
        Token.objects.count(),
        tuple(TrainingRun.objects.order_by("pk").values_list("pk", "status")),
        tuple(ModelVersion.objects.order_by("pk").values_list("pk", "status")),
    )


# ---------------------------------------------------------------- who may


def VIEWER(actor: str, visibility: str, token: bool) -> bool:
    return actor == "owner" or visibility == "public" or (visibility == "unlisted" and token)


def OWNER(actor: str, visibility: str, token: bool) -> bool:
    return actor == "owner"


def TAGGER(actor: str, visibility: str, token: bool) -> bool:
    # People vouch for tags only on what everyone can see; the owner tags anything of theirs.
    return actor == "owner" or (actor != "anonymous" and visibility == "public")


def LINK(actor: str, visibility: str, token: bool) -> bool:
    # A share link opens public and unlisted photos, never a private one (not even its owner's).
    return token and visibility != "private"


def SIGNED_IN_VIEWER(actor: str, visibility: str, token: bool) -> bool:
    # Favourites and comments: anyone signed in who may see the photo.
    return actor != "anonymous" and VIEWER(actor, visibility, token)


def ANYONE(actor: str, visibility: str, token: bool) -> bool:
    return True


def SIGNED_IN(actor: str, visibility: str, token: bool) -> bool:
    return actor != "anonymous"


def STAFF(actor: str, visibility: str, token: bool) -> bool:
    return actor == "staff"


Rule = Callable[[str, str, bool], bool]
PHOTO_RULES = {VIEWER, OWNER, TAGGER, LINK, SIGNED_IN_VIEWER}


@dataclass(frozen=True)
class Cell:
    world: World
    actor: str
    photo: Photo | None
    token: bool

    @property
    def share(self) -> str:
        """The share token this request carries: the photo's own, or none."""
        return self.photo.share_token if self.photo is not None and self.token else ""


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    who: Rule
    url: Callable[[Cell], str]
    data: Callable[[Cell], Any] | None = None
    form: str = "json"  # or "multipart"
    writes: bool = False
    # How the request carries a share token; None: this URL does not take one.
    token: str | None = None
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.name}-{self.method}{'-' + self.label if self.label else ''}"


def q(cell: Cell, key: str) -> str:
    return f"?{key}={cell.share}" if cell.share else ""


def pk(cell: Cell) -> int:
    assert cell.photo is not None
    return cell.photo.pk


def vis(cell: Cell) -> str:
    assert cell.photo is not None
    return cell.photo.visibility


def photo_url(template: str, share_param: str = "") -> Callable[[Cell], str]:
    """A URL of the cell's photo: ``{pk}`` and ``{vis}`` filled in, the share token added as
    ``share_param`` when the cell carries it."""
    return lambda cell: (
        template.format(pk=pk(cell), vis=vis(cell)) + (q(cell, share_param) if share_param else "")
    )


def album_url(template: str) -> Callable[[Cell], str]:
    """A URL of the album of the cell's visibility (``{id}``), with the album's own share token
    when the cell carries one: a photo's token never opens an album, nor an album's a photo."""

    def build(cell: Cell) -> str:
        album = cell.world.albums[vis(cell)]
        return template.format(id=album.pk) + (f"?share={album.share_token}" if cell.token else "")

    return build


def fixed(path: str) -> Callable[[Cell], str]:
    return lambda cell: path


def help_answer_url(answer: str) -> Callable[[Cell], str]:
    """'Help the model' answers a suggestion by its PhotoTag id: the model's tag on the photo."""

    def build(cell: Cell) -> str:
        suggestion = PhotoTag.objects.get(photo=cell.photo, tag__name=f"model{vis(cell)}")
        return f"/help/{suggestion.pk}/{answer}/"

    return build


def comment_of(cell: Cell) -> int:
    """The owner's comment on the cell's photo."""
    return cell.world.comments[vis(cell)]


def comment_url(template: str) -> Callable[[Cell], str]:
    """A URL of the owner's comment on the cell's photo (``{id}``)."""
    return lambda cell: template.format(id=comment_of(cell))


def new_photo_of(cell: Cell) -> int:
    """A photo of the requester's own (none for the anonymous), not yet in any album."""
    spare = cell.world.spare.get(cell.actor)
    return 999_999 if spare is None else spare.pk


def new_image(cell: Cell) -> dict[str, Any]:
    file = io.BytesIO(image_bytes(color=(ACTORS.index(cell.actor) * 50, 99, 1)))
    file.name = "new.jpg"
    return {"image": file}


ROWS: list[Row] = [
    # ---- the API, albums (the cell's visibility is the album's; each holds all three photos)
    Row("album-list", "GET", ANYONE, fixed("/api/albums/")),
    Row("album-list", "POST", SIGNED_IN, fixed("/api/albums/"), lambda c: {"title": "new"}, writes=True),
    Row("album-detail", "GET", VIEWER, album_url("/api/albums/{id}/"), token="album"),
    Row(
        "album-detail",
        "PATCH",
        OWNER,
        album_url("/api/albums/{id}/"),
        lambda c: {"title": "x"},
        writes=True,
        token="album",
    ),
    Row("album-detail", "DELETE", OWNER, album_url("/api/albums/{id}/"), writes=True, token="album"),
    Row("album-photos", "GET", VIEWER, album_url("/api/albums/{id}/photos/"), token="album"),
    Row("album-download", "GET", VIEWER, album_url("/api/albums/{id}/download/"), token="album"),
    Row(
        "album-photos",
        "PATCH",
        OWNER,
        album_url("/api/albums/{id}/photos/"),
        lambda c: {"photos": [c.world.photos["private"].pk]},
        writes=True,
        token="album",
    ),
    Row(
        "album-photos",
        "DELETE",
        OWNER,
        album_url("/api/albums/{id}/photos/"),
        lambda c: {"photos": [c.world.photos["public"].pk]},
        writes=True,
        token="album",
    ),
    Row(
        "album-photos",
        "POST",
        OWNER,
        album_url("/api/albums/{id}/photos/"),
        lambda c: {"photos": [new_photo_of(c)]},
        writes=True,
        token="album",
    ),
    Row("album-members", "GET", OWNER, album_url("/api/albums/{id}/members/"), token="album"),
    Row(
        "album-members",
        "POST",
        OWNER,
        album_url("/api/albums/{id}/members/"),
        lambda c: {"username": "user"},
        writes=True,
        token="album",
    ),
    Row(
        "album-members",
        "DELETE",
        OWNER,
        album_url("/api/albums/{id}/members/"),
        lambda c: {"username": "nobody-here"},
        token="album",
    ),
    # ---- the API, favourites and comments (the owner commented on each photo)
    Row(
        "photo-favourite",
        "POST",
        SIGNED_IN_VIEWER,
        photo_url("/api/photos/{pk}/favourite/", "share"),
        writes=True,
        token="share",
    ),
    Row(
        "photo-favourite",
        "DELETE",
        SIGNED_IN_VIEWER,
        photo_url("/api/photos/{pk}/favourite/", "share"),
        token="share",
    ),
    Row("my-favourites", "GET", SIGNED_IN, fixed("/api/favourites/")),
    Row("photo-comments", "GET", VIEWER, photo_url("/api/photos/{pk}/comments/", "share"), token="share"),
    Row(
        "photo-comments",
        "POST",
        SIGNED_IN_VIEWER,
        photo_url("/api/photos/{pk}/comments/", "share"),
        lambda c: {"body": "nice"},
        writes=True,
        token="share",
    ),
    Row(
        "comment-detail",
        "PATCH",
        OWNER,
        lambda c: f"/api/comments/{comment_of(c)}/{q(c, 'share')}",
        lambda c: {"body": "edited"},
        writes=True,
        token="share",
    ),
    Row(
        "comment-detail",
        "DELETE",
        OWNER,
        lambda c: f"/api/comments/{comment_of(c)}/{q(c, 'share')}",
        writes=True,
        token="share",
    ),
    # ---- the API, people
    Row("person", "GET", ANYONE, fixed("/api/users/owner/")),
    Row("person-follow", "POST", SIGNED_IN, fixed("/api/users/someone/follow/"), writes=True),
    Row("person-follow", "DELETE", SIGNED_IN, fixed("/api/users/someone/follow/")),
    Row("my-profile", "GET", SIGNED_IN, fixed("/api/profile/")),
    Row("my-profile", "PATCH", SIGNED_IN, fixed("/api/profile/"), lambda c: {"bio": "hello"}, writes=True),
    Row("following-feed", "GET", SIGNED_IN, fixed("/api/feed/following/")),
    Row("notification-list", "GET", SIGNED_IN, fixed("/api/notifications/")),
    Row("notification-read", "POST", SIGNED_IN, fixed("/api/notifications/read/"), lambda c: {}),
    # ---- the API, one photo
    Row("photo-detail", "GET", VIEWER, lambda c: f"/api/photos/{pk(c)}/{q(c, 'share')}", token="share"),
    Row(
        "photo-detail",
        "PATCH",
        OWNER,
        lambda c: f"/api/photos/{pk(c)}/",
        lambda c: {"caption": "new"},
        writes=True,
    ),
    Row("photo-similar", "GET", VIEWER, photo_url("/api/photos/{pk}/similar/", "share"), token="share"),
    Row("photo-detail", "DELETE", OWNER, lambda c: f"/api/photos/{pk(c)}/", writes=True),
    Row(
        "photo-tags",
        "POST",
        TAGGER,
        lambda c: f"/api/photos/{pk(c)}/tags/{q(c, 'share')}",
        lambda c: {"name": "newtag"},
        writes=True,
        token="share",
    ),
    Row(
        "photo-tag",
        "DELETE",
        OWNER,
        lambda c: f"/api/photos/{pk(c)}/tags/model{vis(c)}/{q(c, 'share')}",
        writes=True,
        token="share",
    ),
    *(
        Row(
            f"photo-tag-{vote}",
            "POST",
            TAGGER,
            photo_url("/api/photos/{pk}/tags/model{vis}/" + vote + "/", "share"),
            writes=True,
            token="share",
        )
        for vote in ("confirm", "reject")
    ),
    *(
        Row(
            "photo-file",
            "GET",
            VIEWER,
            photo_url("/files/photos/{pk}/" + kind, "s"),
            token="s",
            label=kind,
        )
        for kind in ("original", "grid", "display")
    ),
    # ---- the website, one photo
    Row("web:photo", "GET", VIEWER, lambda c: f"/p/{pk(c)}/{q(c, 's')}", token="s"),
    Row("web:photo-tags", "GET", VIEWER, lambda c: f"/p/{pk(c)}/tags-fragment/{q(c, 's')}", token="s"),
    Row("web:photo-card", "GET", VIEWER, lambda c: f"/p/{pk(c)}/card/"),
    Row("web:photo-similar", "GET", VIEWER, photo_url("/p/{pk}/similar/", "s"), token="s"),
    Row("web:help-answer", "POST", TAGGER, help_answer_url("confirm"), writes=True),
    Row(
        "web:photo-edit",
        "POST",
        OWNER,
        lambda c: f"/p/{pk(c)}/edit/",
        lambda c: {"caption": "new"},
        form="multipart",
        writes=True,
    ),
    Row("web:photo-delete", "POST", OWNER, lambda c: f"/p/{pk(c)}/delete/", writes=True),
    Row(
        "web:tag-add",
        "POST",
        TAGGER,
        lambda c: f"/p/{pk(c)}/tags/",
        lambda c: {"name": "newtag", "s": c.share},
        form="multipart",
        writes=True,
        token="form",
    ),
    *(
        Row(
            "web:tag-action",
            "POST",
            OWNER if action == "remove" else TAGGER,
            photo_url("/p/{pk}/tags/model{vis}/" + action + "/"),
            lambda c: {"s": c.share},
            form="multipart",
            writes=True,
            token="form",
            label=action,
        )
        for action in ("confirm", "reject", "remove")
    ),
    Row(
        "web:shared-photo",
        "GET",
        LINK,
        lambda c: f"/s/{c.share or 'not-the-token-of-any-photo'}/",
        token="path",
    ),
    # ---- the website, people and notifications (the owner commented on each photo; the user
    # follows the owner, so the following feed must show only the public photo)
    Row(
        "web:photo-favourite",
        "POST",
        SIGNED_IN_VIEWER,
        photo_url("/p/{pk}/favourite/"),
        lambda c: {"favourite": "1", "s": c.share},
        form="multipart",
        writes=True,
        token="form",
    ),
    Row(
        "web:comment-add",
        "POST",
        SIGNED_IN_VIEWER,
        photo_url("/p/{pk}/comments/"),
        lambda c: {"body": "nice #sky", "s": c.share},
        form="multipart",
        writes=True,
        token="form",
    ),
    *(
        Row(
            f"web:comment-{action}",
            "POST",
            OWNER,  # the owner wrote each comment, so only they edit it, and own every photo
            comment_url("/comments/{id}/" + action + "/"),
            lambda c: {"body": "edited", "s": c.share},
            form="multipart",
            writes=True,
            token="form",
        )
        for action in ("edit", "delete")
    ),
    Row("web:favourites", "GET", SIGNED_IN, fixed("/favourites/")),
    Row("web:following", "GET", SIGNED_IN, fixed("/following/")),
    Row("web:person-follow", "POST", SIGNED_IN, fixed("/u/someone/follow/"), writes=True),
    Row("web:profile-edit", "GET", SIGNED_IN, fixed("/profile/edit/")),
    Row(
        "web:profile-edit",
        "POST",
        SIGNED_IN,
        fixed("/profile/edit/"),
        lambda c: {"bio": "hello #me"},
        form="multipart",
        writes=True,
    ),
    Row("web:notifications", "GET", SIGNED_IN, fixed("/notifications/")),
    Row("web:notifications-read", "POST", SIGNED_IN, fixed("/notifications/read/")),
    # ---- the API, no one photo: lists and searches are scanned for every photo's traces
    Row("photo-list", "GET", ANYONE, lambda c: "/api/photos/", label="feed"),
    Row("photo-list", "GET", ANYONE, lambda c: "/api/photos/?owner=owner", label="by-owner"),
    *(
        Row("photo-list", "GET", ANYONE, fixed(f"/api/photos/?tag=tag{v}"), label=f"tag-{v}")
        for v in VISIBILITIES
    ),
    Row("photo-list", "GET", ANYONE, lambda c: "/api/photos/?q=only-its-viewers", label="caption"),
    Row("photo-list", "POST", SIGNED_IN, lambda c: "/api/photos/", new_image, form="multipart", writes=True),
    # Bulk actions answer 200 to anyone signed in, naming what they refused: only the owner's change.
    Row(
        "photo-bulk",
        "POST",
        OWNER,
        fixed("/api/photos/bulk/"),
        lambda c: {
            "photos": [pk(c)],
            "action": "visibility",
            "visibility": "private" if vis(c) == "public" else "public",
        },
        writes=True,
        label="visibility",
    ),
    Row(
        "photo-bulk",
        "POST",
        OWNER,
        fixed("/api/photos/bulk/"),
        lambda c: {"photos": [pk(c)], "action": "delete"},
        writes=True,
        label="delete",
    ),
    Row(
        "register",
        "POST",
        ANYONE,
        lambda c: "/api/auth/register/",
        lambda c: {"username": f"new-{c.actor}", "password": "sea-otters-42"},
        writes=True,
    ),
    Row(
        "token",
        "POST",
        ANYONE,
        lambda c: "/api/auth/token/",
        lambda c: {"username": "owner", "password": PASSWORD},
    ),
    Row(
        "password-change",
        "POST",
        SIGNED_IN,
        lambda c: "/api/auth/password/",
        lambda c: {"old_password": PASSWORD, "new_password": "fresh-pass-77"},
        writes=True,
    ),
    Row("tag-search", "GET", ANYONE, lambda c: "/api/tags/", label="all"),
    Row("tag-search", "GET", ANYONE, lambda c: "/api/tags/?q=tag", label="prefix"),
    Row("system", "GET", ANYONE, lambda c: "/api/system/"),
    Row("model-list", "GET", ANYONE, lambda c: "/api/models/"),
    Row("model-activate", "POST", STAFF, lambda c: f"/api/models/{c.world.version.version}/activate/"),
    Row("training-run-list", "GET", STAFF, lambda c: "/api/training-runs/"),
    Row("training-run-list", "POST", STAFF, lambda c: "/api/training-runs/", writes=True),
    Row("training-run-detail", "GET", STAFF, lambda c: f"/api/training-runs/{c.world.run.pk}/"),
    Row("training-vocabulary", "GET", SIGNED_IN, lambda c: "/api/training/vocabulary/"),
    Row("schema", "GET", ANYONE, lambda c: "/api/schema/"),
    Row("docs", "GET", ANYONE, lambda c: "/api/docs/"),
    Row("api-root", "GET", ANYONE, lambda c: "/api/"),
    # ---- the website, no one photo
    Row("web:feed", "GET", ANYONE, lambda c: "/"),
    Row("web:healthz", "GET", ANYONE, lambda c: "/healthz"),
    Row("web:upload", "GET", SIGNED_IN, lambda c: "/upload/"),
    Row("web:my-photos", "GET", SIGNED_IN, lambda c: "/my/photos/"),
    # Like the API's bulk actions: anyone signed in is answered, only the owner's photos change.
    Row(
        "web:my-photos-bulk",
        "POST",
        OWNER,
        fixed("/my/photos/bulk/"),
        lambda c: {
            "photo": [pk(c)],
            "action": "visibility",
            "visibility": "private" if vis(c) == "public" else "public",
        },
        form="multipart",
        writes=True,
    ),
    Row("web:help", "GET", SIGNED_IN, fixed("/help/"), label="one"),
    Row("web:help", "GET", SIGNED_IN, fixed("/help/?view=grid"), label="grid"),
    Row("web:search", "GET", ANYONE, lambda c: "/search/?q=only-its-viewers", label="caption"),
    *(
        Row("web:search", "GET", ANYONE, fixed(f"/search/?tags=tag{v}"), label=f"tag-{v}")
        for v in VISIBILITIES
    ),
    Row("web:profile", "GET", ANYONE, lambda c: "/u/owner/"),
    *(Row("web:tag", "GET", ANYONE, fixed(f"/t/tag{v}/"), label=v) for v in VISIBILITIES),
    Row("web:tag-suggestions", "GET", ANYONE, lambda c: "/tag-suggestions/?name=tag"),
    Row("web:staff", "GET", STAFF, lambda c: "/staff/"),
    Row("web:staff-retrain", "POST", STAFF, lambda c: "/staff/retrain/", writes=True),
    Row("web:staff-run", "GET", STAFF, lambda c: f"/staff/runs/{c.world.run.pk}/"),
    Row("web:staff-activate", "POST", STAFF, lambda c: f"/staff/models/{c.world.version.version}/activate/"),
    Row("web:staff-quality", "GET", STAFF, fixed("/staff/quality/")),
    Row("web:staff-operations", "GET", STAFF, fixed("/staff/operations/")),
    # The world's photos are tagged, so a staff retry finds nothing to do; others are refused.
    Row("web:staff-retry-failed", "POST", STAFF, fixed("/staff/failed/retry/")),
    Row("web:signup", "GET", ANYONE, lambda c: "/accounts/signup/"),
    Row(
        "web:signup",
        "POST",
        ANYONE,
        lambda c: "/accounts/signup/",
        lambda c: {"username": f"new-{c.actor}", "password1": "sea-otters-42", "password2": "sea-otters-42"},
        form="multipart",
        writes=True,
    ),
    Row("web:login", "GET", ANYONE, lambda c: "/accounts/login/"),
    Row(
        "web:login",
        "POST",
        ANYONE,
        lambda c: "/accounts/login/",
        lambda c: {"username": "owner", "password": PASSWORD},
        form="multipart",
    ),
    Row("web:logout", "POST", ANYONE, lambda c: "/accounts/logout/"),
    Row("web:password-change", "GET", SIGNED_IN, lambda c: "/accounts/password/"),
    Row(
        "web:password-change",
        "POST",
        SIGNED_IN,
        lambda c: "/accounts/password/",
        lambda c: {
            "old_password": PASSWORD,
            "new_password1": "fresh-pass-77",
            "new_password2": "fresh-pass-77",
        },
        form="multipart",
        writes=True,
    ),
    Row("web:password-change-done", "GET", SIGNED_IN, lambda c: "/accounts/password/done/"),
    # ---- accounts: e-mail, reset, deletion, export
    # Deleting an account is a write like any other here: each cell runs in a transaction that is
    # rolled back, and the files, which go only on commit, are never touched.
    Row("account", "GET", SIGNED_IN, fixed("/api/account/")),
    Row(
        "account",
        "PATCH",
        SIGNED_IN,
        fixed("/api/account/"),
        lambda c: {"email": f"{c.actor}@example.org"},
        writes=True,
    ),
    Row(
        "account", "DELETE", SIGNED_IN, fixed("/api/account/"), lambda c: {"password": PASSWORD}, writes=True
    ),
    # Each person's export holds only their own photos: the markers of anyone else's would show.
    Row("account-export", "GET", SIGNED_IN, fixed("/api/account/export/")),
    Row(
        "password-reset",
        "POST",
        ANYONE,
        fixed("/api/auth/password-reset/"),
        lambda c: {"email": "owner@example.org"},
    ),
    Row("web:account", "GET", SIGNED_IN, fixed("/accounts/")),
    Row(
        "web:account",
        "POST",
        SIGNED_IN,
        fixed("/accounts/"),
        lambda c: {"email": f"{c.actor}@example.org"},
        form="multipart",
        writes=True,
    ),
    Row("web:account-export", "GET", SIGNED_IN, fixed("/accounts/export/")),
    Row("web:account-delete", "GET", SIGNED_IN, fixed("/accounts/delete/")),
    Row(
        "web:account-delete",
        "POST",
        SIGNED_IN,
        fixed("/accounts/delete/"),
        lambda c: {"password": PASSWORD},
        form="multipart",
        writes=True,
    ),
    Row("web:password-reset", "GET", ANYONE, fixed("/accounts/password/reset/")),
    Row(
        "web:password-reset",
        "POST",
        ANYONE,
        fixed("/accounts/password/reset/"),
        lambda c: {"email": "owner@example.org"},
        form="multipart",
    ),
    Row("web:password-reset-done", "GET", ANYONE, fixed("/accounts/password/reset/sent/")),
    # A link that is not one (a real one is followed in tests/accounts/): open to anyone, no change.
    Row("web:password-reset-confirm", "GET", ANYONE, fixed("/accounts/reset/MQ/not-a-token/")),
    Row(
        "web:password-reset-confirm",
        "POST",
        ANYONE,
        fixed("/accounts/reset/MQ/not-a-token/"),
        lambda c: {"new_password1": "fresh-pass-77", "new_password2": "fresh-pass-77"},
        form="multipart",
    ),
    Row("web:password-reset-complete", "GET", ANYONE, fixed("/accounts/reset/done/")),
    # ---- the website, rough edges
    Row("web:favicon", "GET", ANYONE, fixed("/favicon.ico")),
    # The one search box: a word that is a tag only on a hidden photo must not become a chip.
    *(
        Row("web:search", "GET", ANYONE, fixed(f"/search/?q=tag{v}+only-its-viewers"), label=f"words-{v}")
        for v in VISIBILITIES
    ),
    *(
        Row("photo-list", "GET", ANYONE, fixed(f"/api/photos/?search=tag{v}"), label=f"words-{v}")
        for v in VISIBILITIES
    ),
]


# ---- the website, albums (as the API's album rows: the cell's visibility is the album's, each
# album holds all three photos, and a cell with a token carries the album's own link, as ?s=)


def web_album_url(template: str) -> Callable[[Cell], str]:
    def build(cell: Cell) -> str:
        album = cell.world.albums[vis(cell)]
        photos = {f"{v}_photo": p.pk for v, p in cell.world.photos.items()}
        return template.format(id=album.pk, **photos) + (f"?s={album.share_token}" if cell.token else "")

    return build


def ALBUM_OWNER(actor: str, visibility: str, token: bool) -> bool:
    # Not a photo rule: one row, whoever asks, with the requester's own photo.
    return actor == "owner"


ROWS += [
    Row("web:albums", "GET", SIGNED_IN, fixed("/albums/")),
    Row(
        "web:album-new",
        "POST",
        SIGNED_IN,
        fixed("/albums/new/"),
        lambda c: {"title": "new", "visibility": "private"},
        form="multipart",
        writes=True,
    ),
    Row("web:album", "GET", VIEWER, web_album_url("/a/{id}/"), token="album"),
    Row(
        "web:album-edit",
        "POST",
        OWNER,
        web_album_url("/a/{id}/edit/"),
        lambda c: {"title": "x"},
        form="multipart",
        writes=True,
        token="album",
    ),
    Row("web:album-delete", "POST", OWNER, web_album_url("/a/{id}/delete/"), writes=True, token="album"),
    Row(
        "web:album-invite",
        "POST",
        OWNER,
        web_album_url("/a/{id}/members/"),
        lambda c: {"username": "user", "role": "viewer"},
        form="multipart",
        writes=True,
        token="album",
    ),
    Row(
        "web:album-member-remove",
        "POST",
        OWNER,
        web_album_url("/a/{id}/members/remove/"),
        lambda c: {"username": "nobody-here"},
        form="multipart",
        token="album",
    ),
    Row(
        "web:album-add-photos",
        "POST",
        OWNER,
        web_album_url("/a/{id}/photos/"),
        lambda c: {"photo": [new_photo_of(c)]},
        form="multipart",
        writes=True,
        token="album",
    ),
    Row(
        "web:album-remove-photo",
        "POST",
        OWNER,
        web_album_url("/a/{id}/photos/{public_photo}/remove/"),
        writes=True,
        token="album",
    ),
    Row(
        "web:album-move",
        "POST",
        OWNER,
        web_album_url("/a/{id}/photos/{private_photo}/up/"),
        writes=True,
        token="album",
    ),
    Row(
        "web:photo-add-to-album",
        "POST",
        ALBUM_OWNER,
        lambda c: f"/p/{new_photo_of(c)}/add-to-album/",
        lambda c: {"album": c.world.albums["private"].pk},
        form="multipart",
        writes=True,
    ),
]

MEMBERS = ("viewer", "contributor")
# What members may do, row by row: a viewer looks and leaves; a contributor also adds their own
# photos; neither edits, deletes, invites, reorders nor removes the owner's photos.
MEMBERS_MAY = {
    "web:album-GET": {"viewer", "contributor"},
    "web:album-member-remove-POST": {"viewer", "contributor"},
    "web:album-add-photos-POST": {"contributor"},
}
# A member leaving names themselves; anything else is the row's own request.
MEMBER_DATA: dict[str, Callable[[Cell], Any]] = {
    "web:album-member-remove-POST": lambda c: {"username": c.actor},
}


def with_members(world: World, make_user: Callable[..., User]) -> World:
    """The world with a viewer and a contributor in each of the owner's albums, each with a
    private photo of their own in no album."""
    for n, role in enumerate(MEMBERS):
        person = make_user(role)
        world.people[role] = person
        world.spare[role] = upload_photo(
            owner=person, data=image_bytes(color=(9, n * 80, 201)), visibility="private"
        )
        for album in world.albums.values():
            AlbumMember.objects.create(album=album, user=person, role=role)
    return world


@pytest.mark.parametrize(
    "row", [row for row in ROWS if row.token == "album" and row.name.startswith("web:")], ids=lambda r: r.id
)
def test_the_album_pages_let_members_do_what_their_role_allows_and_show_no_photo_beyond_it(
    row: Row, make_user: Callable[..., User]
) -> None:
    world = with_members(build_world(make_user), make_user)
    problems: list[str] = []
    for actor in MEMBERS:
        for visibility in VISIBILITIES:
            for token in (False, True):
                cell = Cell(world, actor, world.photos[visibility], token)
                member_row = Row(
                    row.name, row.method, lambda a, v, t: a in MEMBERS_MAY.get(row.id, set()), row.url,
                    MEMBER_DATA.get(row.id, row.data), row.form, row.writes or row.id in MEMBER_DATA,
                )  # fmt: skip
                problems += run_member_cell(member_row, cell)

    assert problems == []


def run_member_cell(row: Row, cell: Cell) -> list[str]:
    """As ``run_cell``, for a member: an album they are in is theirs to see, and its photos are
    still only those they could open anyway (the public one; never the unlisted or private)."""
    where = f"{row.id} as the {cell.actor} of the {vis(cell)} album{' with its link' if cell.token else ''}"
    problems: list[str] = []

    class Undo(Exception):
        pass

    try:
        with transaction.atomic():
            before = snapshot()
            kwargs = {"data": row.data(cell), "format": row.form} if row.data is not None else {}
            response = getattr(client_as(cell.world, cell.actor), row.method.lower())(row.url(cell), **kwargs)
            body, changed = body_of(response), snapshot() != before
            allowed = row.who(cell.actor, vis(cell), cell.token)
            if response.status_code >= 500:
                problems.append(f"{where}: server error {response.status_code}")
            elif allowed and (refused(response) or (row.writes and not changed)):
                problems.append(f"{where}: not done ({response.status_code}) but should be")
            elif not allowed and (changed or not refused(response)):
                problems.append(f"{where}: answered {response.status_code}, changed={changed}; should refuse")
            for hidden in ("unlisted", "private"):
                problems += [f"{where}: LEAK of {m!r}" for m in cell.world.markers(hidden) if m in body]
            raise Undo
    except Undo:
        pass
    return problems


def cells(row: Row, world: World) -> Iterator[Cell]:
    for actor in ACTORS:
        if row.who not in PHOTO_RULES:
            yield Cell(world, actor, None, False)
            continue
        for visibility in VISIBILITIES:
            photo = world.photos[visibility]
            yield Cell(world, actor, photo, False)
            if row.token is not None:
                yield Cell(world, actor, photo, True)


def client_as(world: World, actor: str) -> APIClient:
    # Session log-in reaches the website and the API alike (the test client skips CSRF here;
    # test_csrf_is_enforced_on_every_unsafe_request checks it).
    client = APIClient(raise_request_exception=False)
    person = world.people[actor]
    if person is not None:
        client.force_login(person)
    return client


def body_of(response: Any) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode("utf-8", errors="replace")


def refused(response: Any) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    return response.status_code in (301, 302) and "/login/" in response.get("Location", "")


def forbidden_markers(cell: Cell, row: Row | None = None) -> list[str]:
    found: list[str] = []
    album_link = row is not None and row.token == "album"
    for visibility in VISIBILITIES:
        token = cell.token and cell.photo is not None and cell.photo.visibility == visibility
        # An album never widens who may see a photo: its link opens none of the photos in it.
        if not VIEWER(cell.actor, visibility, token and not album_link):
            found += cell.world.markers(visibility)
        album = cell.world.albums[visibility]
        if not VIEWER(cell.actor, visibility, token and album_link):
            found += [album.title, album.share_token]
    if cell.actor != "owner":
        found += [f"{latitude:.5f}"[:-1] for latitude in LATITUDES.values()]
    return found


def run_cell(row: Row, cell: Cell) -> list[str]:
    """One request, undone afterwards; returns what was wrong with it."""
    problems: list[str] = []
    where = f"{row.id} as {cell.actor}" + (
        f" on the {cell.photo.visibility} photo{' with its share token' if cell.token else ''}"
        if cell.photo
        else ""
    )

    class Undo(Exception):
        pass

    cache.clear()  # log-in and upload throttles count per test otherwise
    try:
        with transaction.atomic():
            before = snapshot()
            client = client_as(cell.world, cell.actor)
            kwargs: dict[str, Any] = {}
            if row.data is not None:
                kwargs = {"data": row.data(cell), "format": row.form}
            response = getattr(client, row.method.lower())(row.url(cell), **kwargs)
            body = body_of(response)
            changed = snapshot() != before
            expected = row.who(cell.actor, cell.photo.visibility if cell.photo else "", cell.token)
            if response.status_code >= 500:
                problems.append(f"{where}: server error {response.status_code}")
            elif expected and refused(response):
                problems.append(f"{where}: refused ({response.status_code}) but should be allowed")
            elif expected and row.writes and not changed:
                problems.append(f"{where}: allowed write changed nothing ({response.status_code})")
            elif not expected and changed:
                problems.append(f"{where}: WROTE although not allowed ({response.status_code})")
            elif not expected and not refused(response) and not row.writes:
                problems.append(f"{where}: answered {response.status_code} but should be refused")
            url = row.url(cell)
            for marker in forbidden_markers(cell, row):
                # What the person typed (a tag in /t/<name>/) may be echoed back; that is no leak.
                if marker in body and marker not in url:
                    problems.append(f"{where}: LEAK of {marker!r}")
            raise Undo
    except Undo:
        pass
    return problems


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_access_matrix(row: Row, make_user: Callable[..., User]) -> None:
    world = build_world(make_user)

    problems = [problem for cell in cells(row, world) for problem in run_cell(row, cell)]

    assert problems == []


# ---------------------------------------------------------------- coverage


def url_patterns(
    patterns: list[Any], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str, Any]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(n for n in (namespace, pattern.namespace or "") if n)
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name or ""
            yield prefix + str(pattern.pattern), name, pattern.callback


def methods_of(callback: Any) -> set[str] | None:
    """The methods a class-based view answers; None for a function view (then one row will do)."""
    actions = getattr(callback, "actions", None)
    if actions:
        # DRF adds HEAD to a viewset's actions at its first GET; it answers as GET does.
        return {method.upper() for method in actions if method not in {"options", "head"}}
    view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view is None:
        return None
    answered = {m for m in view.http_method_names if m not in {"options", "head"} and hasattr(view, m)}
    if getattr(view, "put", None) is ProcessFormView.put:
        answered.discard("put")  # Django's form views alias PUT to POST: the POST row covers it
    return {m.upper() for m in answered}


def test_every_url_pattern_is_in_the_matrix() -> None:
    covered = {(row.name, row.method) for row in ROWS}
    names = {name for name, _ in covered}
    missing: list[str] = []
    seen: set[str] = set()
    for route, name, callback in url_patterns(get_resolver().url_patterns):
        if route.startswith("admin/"):
            continue  # the admin test below covers the whole admin site
        if not name:
            missing.append(f"{route} has no URL name; name it and add a row")
            continue
        seen.add(name)
        methods = methods_of(callback)
        if methods is None and name not in names:
            missing.append(f"{name} ({route})")
        for method in sorted(methods or ()):
            if (name, method) not in covered:
                missing.append(f"{name} {method} ({route})")

    assert missing == [], "add a Row to ROWS in tests/security/test_access_matrix.py for each"
    assert names - seen == set(), "rows for URL names that no longer exist"


# ---------------------------------------------------------------- CSRF and the admin


@pytest.mark.parametrize(
    "row", [row for row in ROWS if row.method != "GET"], ids=[row.id for row in ROWS if row.method != "GET"]
)
def test_csrf_is_enforced_on_every_unsafe_request_of_a_signed_in_browser(
    row: Row, make_user: Callable[..., User]
) -> None:
    world = build_world(make_user)
    browser = APIClient(enforce_csrf_checks=True)
    actor = "staff" if row.who is STAFF else "owner"
    browser.force_login(world.people[actor])  # type: ignore[arg-type]
    cell = Cell(world, actor, world.photos["public"] if row.who in PHOTO_RULES else None, False)
    before = snapshot()
    kwargs = {"data": row.data(cell), "format": row.form} if row.data is not None else {}

    response = getattr(browser, row.method.lower())(row.url(cell), **kwargs)

    assert response.status_code == 403
    assert "CSRF" in body_of(response)
    assert snapshot() == before


def test_the_admin_is_staff_only_and_shows_staff_no_private_or_unlisted_photo(
    make_user: Callable[..., User],
) -> None:
    world = build_world(make_user)
    for actor in ("anonymous", "user", "owner"):
        response = client_as(world, actor).get("/admin/")
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), actor
        for model in admin.site._registry:
            meta = model._meta
            changelist = client_as(world, actor).get(f"/admin/{meta.app_label}/{meta.model_name}/")
            assert refused(changelist), (actor, meta.model_name)

    staff = client_as(world, "staff")
    cell = Cell(world, "staff", None, False)
    pages = ["/admin/"]
    for model in admin.site._registry:
        meta = model._meta
        pages.append(f"/admin/{meta.app_label}/{meta.model_name}/")
    pages += ["/admin/photos/photo/?q=only-its-viewers", "/admin/tags/tag/?q=private"]
    pages.append(f"/admin/photos/photo/{world.photos['public'].pk}/change/")
    bodies = {page: body_of(staff.get(page)) for page in pages}
    leaks = [
        (page, marker)
        for page, body in bodies.items()
        for marker in forbidden_markers(cell)
        if marker in body
    ]
    assert leaks == []
    hidden = [world.photos["unlisted"], world.photos["private"]]
    objects = [
        *(f"photos/photo/{photo.pk}" for photo in hidden),
        *(f"tags/phototag/{row.pk}" for row in PhotoTag.objects.filter(photo__in=hidden)),
        *(f"tags/tag/{row.pk}" for row in Tag.objects.filter(photo_tags__photo__in=hidden)),
    ]
    for path in objects:
        # "doesn't exist": back to the admin index, showing nothing of it.
        assert staff.get(f"/admin/{path}/change/").status_code == 302, path
