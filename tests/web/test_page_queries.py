"""Pages make a fixed number of database queries, however many photos, tags, versions, workers
and failed photos there are: an N+1 query shows up here as a count that grows with the data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.albums.models import Album, AlbumMember, AlbumPhoto
from api.photos.models import Photo
from api.social.services import add_comment, favourite, follow
from api.tagging.models import WorkerStatus
from api.tags.models import PhotoTag, Tag, TagSource, TagState, TagVote
from api.training.models import ModelVersion, TrainingRun
from tests.helpers.tags import model_suggests, owner_tags, person_suggests
from tests.helpers.training import bare_photo

pytestmark = pytest.mark.django_db

DASHBOARD_MAX_QUERIES = 20
FEED_MAX_QUERIES = 8
ALBUM_LIST_MAX_QUERIES = 4
# An album page also reads the viewer's role, its members and the photos they could add.
ALBUM_PAGE_MAX_QUERIES = 10


def queries(client: Client, url: str) -> int:
    client.get(url)  # sessions, caches and lazy settings warm up on the first request
    with CaptureQueriesContext(connection) as captured:
        answer = client.get(url)
    assert answer.status_code == 200, url
    return len(captured.captured_queries)


class Site:
    """Adds photos with people's and the model's tags and votes, model versions with per-tag
    metrics, workers and failed photos: ``grow`` adds the same amount again."""

    def __init__(self, owner: User, voter: User) -> None:
        self.owner, self.voter, self.n = owner, voter, 0

    def grow(self, photos: int) -> None:
        for _ in range(photos):
            self.n += 1
            photo = bare_photo(self.owner, self.n, visibility="public")
            mine = PhotoTag.objects.create(
                photo=photo, tag=Tag.objects.get_or_create(name=f"tag{self.n % 7}")[0], source=TagSource.USER,
                state=TagState.CONFIRMED, added_by=self.owner,
            )  # fmt: skip
            TagVote.objects.create(photo_tag=mine, user=self.owner, value="confirm")
            suggestion = PhotoTag.objects.create(
                photo=photo, tag=Tag.objects.get_or_create(name=f"model{self.n % 5}")[0],
                source=TagSource.MODEL, state=TagState.CONFIRMED, score=0.8, model_version=1,
            )  # fmt: skip
            TagVote.objects.create(photo_tag=suggestion, user=self.voter, value="confirm")
            failed = bare_photo(self.owner, 100_000 + self.n)
            Photo.objects.filter(pk=failed.pk).update(
                status="failed", status_reason="cannot identify image file"
            )
            WorkerStatus.objects.create(
                name=f"box:{self.n}", device="cuda:0", started_at=timezone.now(), last_seen=timezone.now(),
                gpus=[{"name": "GPU", "utilization_percent": 50, "memory_used_mb": 1, "memory_total_mb": 2}],
            )  # fmt: skip
            per_tag = {f"tag{i}": {"precision": 1, "recall": 1, "f1": 1, "support": 3, "threshold": 0.5}
                       for i in range(self.n)}  # fmt: skip
            ModelVersion.objects.update(status="retired")
            ModelVersion.objects.create(version=self.n, status="active", backbone="b", tags=list(per_tag),
                                        metrics={"map": 0.9, "per_tag": per_tag})  # fmt: skip
            TrainingRun.objects.create(trigger="api", status="succeeded", curves=[{"epoch": 1, "loss": 1}])


@pytest.fixture
def site(alice: User, bob: User) -> Site:
    return Site(alice, bob)


def test_the_dashboard_and_its_panels_make_the_same_few_queries_with_ten_times_the_data(
    site: Site, make_user: Callable[..., User]
) -> None:
    staff = Client()
    staff.force_login(make_user("boss", staff=True))
    site.grow(3)
    small = {url: queries(staff, url) for url in ("/staff/", "/staff/operations/", "/staff/quality/")}

    site.grow(27)
    large = {url: queries(staff, url) for url in small}

    assert large == small
    assert small["/staff/"] <= DASHBOARD_MAX_QUERIES


@pytest.mark.parametrize("signed_in", [False, True])
def test_the_feed_makes_the_same_few_queries_with_ten_times_the_photos(
    site: Site, alice: User, signed_in: bool, settings: Any
) -> None:
    settings.PAGE_SIZE = 24
    client = Client()
    if signed_in:
        client.force_login(alice)
    site.grow(3)
    small = queries(client, "/")

    site.grow(30)  # the first page is full now: 24 photos, each with tags and votes

    assert queries(client, "/") == small <= FEED_MAX_QUERIES


def test_a_photo_page_makes_the_same_few_queries_with_many_more_tags_and_votes(
    alice: User, bob: User, carol: User
) -> None:
    photo = bare_photo(alice, 1)
    client = Client()
    client.force_login(bob)

    def tag(n: int) -> None:
        photo_tag = PhotoTag.objects.create(
            photo=photo, tag=Tag.objects.get_or_create(name=f"t{n}")[0], source=TagSource.USER,
            state=TagState.SUGGESTED, added_by=bob,
        )  # fmt: skip
        TagVote.objects.create(photo_tag=photo_tag, user=carol, value="confirm")

    tag(0)
    small = queries(client, f"/p/{photo.pk}/")
    for n in range(1, 12):
        tag(n)

    assert queries(client, f"/p/{photo.pk}/") == small <= FEED_MAX_QUERIES


@pytest.mark.parametrize("url", ["/t/dress/", "/search/?tags=dress+red", "/t/dress/?tag_state=confirmed"])
def test_tag_and_search_pages_make_the_same_few_queries_with_ten_times_the_photos(
    alice: User, bob: User, settings: Any, url: str
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 24}
    made = iter(range(1, 1000))

    def grow(photos: int) -> None:
        for _ in range(photos):
            guess, confirmed = bare_photo(alice, next(made)), bare_photo(alice, next(made))
            model_suggests(guess, "dress", 0.7)
            model_suggests(guess, "red", 0.6)
            owner_tags(confirmed, "dress")
            owner_tags(confirmed, "red")
            person_suggests(confirmed, bob, "blue")

    client = Client()
    client.force_login(bob)
    grow(1)
    small = queries(client, url)
    grow(20)  # the first page is full now: each photo with its matched tags and their badges

    assert queries(client, url) == small <= FEED_MAX_QUERIES


@pytest.mark.parametrize(
    ("viewer", "url"),
    [
        ("bob", "/favourites/"),
        ("bob", "/following/"),
        ("bob", "/u/alice/"),
        ("alice", "/notifications/"),
        ("bob", "/p/{first}/"),
    ],
)
def test_people_and_notification_pages_make_the_same_few_queries_with_ten_times_the_rows(
    alice: User, bob: User, make_user: Callable[..., User], settings: Any, viewer: str, url: str
) -> None:
    """Favourites, follows, comments and the notifications they send all grow; the photo page's
    first photo gathers a comment and a favourite from each newcomer."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 24}
    first = bare_photo(alice, 1)
    owner_tags(first, "lake")
    follow(follower=bob, username="alice")
    made = iter(range(2, 1000))

    def grow(rows: int) -> None:
        for _ in range(rows):
            n = next(made)
            photo, newcomer = bare_photo(alice, n), make_user(f"fan{n}")
            owner_tags(photo, "lake")
            favourite(user=bob, photo=photo)
            add_comment(author=bob, photo=photo, text=f"nice #{n}")
            favourite(user=newcomer, photo=first)
            add_comment(author=newcomer, photo=first, text="me too #lake")
            follow(follower=newcomer, username="alice")

    client = Client()
    client.force_login(alice if viewer == "alice" else bob)
    page = url.format(first=first.pk)
    grow(2)
    small = queries(client, page)
    grow(25)  # more than a page of photos and notifications, and 27 comments on the first photo

    assert queries(client, page) == small <= FEED_MAX_QUERIES


def test_the_album_list_and_an_album_page_make_the_same_few_queries_with_ten_times_the_albums(
    alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    made = iter(range(1, 1000))
    albums: list[Album] = []

    def grow(count: int) -> None:
        for _ in range(count):
            album = Album.objects.create(owner=alice, title=f"a{len(albums)}", visibility="private")
            photos = [bare_photo(alice, next(made)) for _ in range(2)]
            for position, photo in enumerate(photos):
                AlbumPhoto.objects.create(album=album, photo=photo, position=position, added_by=alice)
            Album.objects.filter(pk=album.pk).update(cover=photos[0])
            AlbumMember.objects.create(album=album, user=bob, role="contributor")
            AlbumMember.objects.create(album=album, user=make_user(f"m{len(albums)}"), role="viewer")
            albums.append(album)

    owner, member = Client(), Client()
    owner.force_login(alice)
    member.force_login(bob)
    grow(2)
    small = {
        "owner list": queries(owner, "/albums/"),
        "member list": queries(member, "/albums/"),
        "album": queries(member, f"/a/{albums[0].pk}/"),
    }
    grow(20)
    for photo in Photo.objects.filter(owner=alice)[:20]:  # the first album fills up too
        AlbumPhoto.objects.get_or_create(
            album=albums[0], photo=photo, defaults={"position": 100 + photo.pk, "added_by": alice}
        )

    large = {
        "owner list": queries(owner, "/albums/"),
        "member list": queries(member, "/albums/"),
        "album": queries(member, f"/a/{albums[0].pk}/"),
    }
    assert large == small
    assert small["owner list"] <= ALBUM_LIST_MAX_QUERIES and small["member list"] <= ALBUM_LIST_MAX_QUERIES
    assert small["album"] <= ALBUM_PAGE_MAX_QUERIES
