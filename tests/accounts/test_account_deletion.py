"""Deleting an account: everything of the person's goes (rows in every table, files on disk),
other people's things stay, and a failure halfway loses nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.throttling import ScopedRateThrottle

from api.accounts import deletion
from api.accounts.deletion import delete_account
from api.albums.models import Album, AlbumPhoto
from api.photos.models import Photo
from api.social.models import Comment, Favourite, Follow
from api.tags.models import PhotoTag, TagState
from api.training.models import ModelVersion, TrainingRun
from tests.helpers.accounts import MARK, files_of, live_a_full_life, traces
from tests.helpers.clients import client_for, stored_files

pytestmark = pytest.mark.django_db(transaction=True)  # files go on commit: let it happen


@pytest.fixture
def people(make_user: Callable[..., User]) -> tuple[User, User, User, User]:
    return make_user(f"{MARK}-zed"), make_user("bob"), make_user("carol"), make_user("staff", staff=True)


def test_deleting_an_account_leaves_no_row_no_key_no_text_and_no_file_of_theirs(
    people: tuple[User, User, User, User], shared_fs: Path
) -> None:
    zed, bob, carol, staff = people
    life = live_a_full_life(zed, bob, carol, staff)
    Client().force_login(zed)  # a session row, found only by the id inside it
    assert traces(life) != []  # the search finds what it looks for
    assert all(path.exists() for path in life.own_files + life.shared_files)

    delete_account(user=zed)

    assert traces(life) == []
    assert [path for path in life.own_files if path.exists()] == []
    # Nothing on disk that no photo uses: every file left is one of the remaining photos'.
    remaining = sorted(path for photo in Photo.objects.all() for path in files_of(photo))
    assert stored_files(shared_fs) == remaining


def test_other_peoples_things_stay_and_their_tags_lose_only_the_leavers_word(
    people: tuple[User, User, User, User],
) -> None:
    zed, bob, carol, staff = people
    live_a_full_life(zed, bob, carol, staff)
    bobs = Photo.objects.get(caption="bob's beach")

    delete_account(user=zed)

    assert sorted(Photo.objects.values_list("caption", flat=True)) == ["bob's beach", "bob's copy"]
    assert all(path.exists() for photo in Photo.objects.all() for path in files_of(photo))
    assert list(Comment.objects.values_list("body", flat=True)) == ["my own beach"]
    assert list(Favourite.objects.values_list("user__username", "photo")) == [("bob", bobs.pk)]
    assert list(Follow.objects.values_list("follower__username", "followee__username")) == [("carol", "bob")]
    album = Album.objects.get()
    assert (album.title, album.cover_id) == ("bob's album", None)
    assert list(AlbumPhoto.objects.values_list("photo", flat=True)) == [bobs.pk]
    states = dict(PhotoTag.objects.filter(photo=bobs).values_list("tag__name", "state"))
    # The lone suggestion is withdrawn; the one Carol backed stays, one vote short of confirmed
    # now; the model's "beach", confirmed by Zed's vote alone, is a suggestion again.
    assert states == {"sunset": TagState.SUGGESTED, "beach": TagState.SUGGESTED}
    assert PhotoTag.objects.get(tag__name="sunset").added_by is None
    run, version = TrainingRun.objects.get(), ModelVersion.objects.get()
    assert run.requested_by is None
    for metrics in (run.metrics, version.metrics):
        assert metrics["preview"]["examples"]["gained"] == [
            {"photo": bobs.pk, "before": None, "after": "beach"}
        ]
    assert version.tags == ["cat", "beach"]  # a published model stays as it was trained


def test_a_failure_before_the_commit_deletes_nothing_at_all(
    people: tuple[User, User, User, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    zed, bob, carol, staff = people
    life = live_a_full_life(zed, bob, carol, staff)
    before = traces(life)

    def crash(_: set[int]) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(deletion, "_forget_preview_examples", crash)
    with pytest.raises(RuntimeError):
        delete_account(user=zed)

    assert traces(life) == before
    assert all(path.exists() for path in life.own_files + life.shared_files)


def test_the_api_deletes_an_account_only_with_its_password(people: tuple[User, User, User, User]) -> None:
    zed, bob, carol, staff = people
    life = live_a_full_life(zed, bob, carol, staff)
    client = client_for(zed)

    wrong = client.delete("/api/account/", {"password": "not-it"}, format="json")
    missing = client.delete("/api/account/", {}, format="json")

    assert (wrong.status_code, wrong.json()["detail"]) == (400, "The password is wrong.")
    assert (missing.status_code, missing.json()["detail"]) == (400, "password: This field is required.")
    assert User.objects.filter(pk=zed.pk).exists()

    right = client.delete("/api/account/", {"password": "a-strong-pass-42"}, format="json")

    assert right.status_code == 204
    assert traces(life) == []
    assert client.get("/api/account/").status_code == 401  # the token went with it


def test_the_website_deletes_an_account_after_asking_for_the_password(
    people: tuple[User, User, User, User],
) -> None:
    zed, bob, carol, staff = people
    life = live_a_full_life(zed, bob, carol, staff)
    browser = Client()
    browser.force_login(zed)

    page = browser.get("/accounts/delete/")
    wrong = browser.post("/accounts/delete/", {"password": "not-it"})

    assert page.status_code == 200 and b"cannot be undone" in page.content
    assert wrong.status_code == 400 and b"The password is wrong." in wrong.content
    assert User.objects.filter(pk=zed.pk).exists()

    done: Any = browser.post("/accounts/delete/", {"password": "a-strong-pass-42"}, follow=True)

    assert done.redirect_chain[-1][0] == "/"
    assert b"and everything in it were deleted" in done.content
    assert traces(life) == []
    assert browser.get("/accounts/").status_code == 302  # signed out


def test_guessing_the_password_to_delete_an_account_is_throttled_like_logging_in(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "login", "2/min")
    client = client_for(alice)

    codes = [
        client.delete("/api/account/", {"password": f"guess-{n}"}, format="json").status_code
        for n in range(3)
    ]
    reads = [client.get("/api/account/").status_code for _ in range(3)]

    assert codes == [400, 400, 429]
    assert reads == [200, 200, 200]  # only deleting is limited
    assert User.objects.filter(pk=alice.pk).exists()
