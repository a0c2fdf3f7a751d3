"""'Help the model': the least certain suggestions a person may vouch for, answered with one click,
counted, and never drawn from photos the person may not see."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from api.photos.models import Photo
from api.photos.services import upload_photo
from api.tags import counts
from api.tags.models import ContributionCount, PhotoTag, Tag, TagSource, TagState, TagVote
from api.tags.selectors import contributions, uncertain_suggestions
from api.tags.services import add_tag
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db

_shade = iter(range(10, 250))


def photo(owner: User, visibility: str = "public") -> Photo:
    return upload_photo(
        owner=owner, data=image_bytes("PNG", (8, 8), (0, next(_shade), 0)), visibility=visibility
    )


def suggest(on: Photo, name: str, score: float) -> PhotoTag:
    tag, _ = Tag.objects.get_or_create(name=name)
    return PhotoTag.objects.create(
        photo=on, tag=tag, source=TagSource.MODEL, state=TagState.SUGGESTED, score=score, model_version=0
    )


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_least_confident_suggestions_come_first(alice: User, bob: User) -> None:
    sure = suggest(photo(bob), "dog", 0.95)
    unsure = suggest(photo(bob), "cat", 0.21)
    middling = suggest(photo(alice), "sofa", 0.5)
    assert list(uncertain_suggestions(alice)) == [unsure, middling, sure]


def test_only_photos_the_person_may_see_and_suggestions_they_have_not_answered_are_offered(
    alice: User, bob: User
) -> None:
    offered = suggest(photo(bob), "tree", 0.3)
    suggest(photo(bob, "private"), "secret", 0.2)
    suggest(photo(bob, "unlisted"), "hidden", 0.2)
    own_private = suggest(photo(alice, "private"), "mine", 0.4)
    answered = suggest(photo(bob), "answered", 0.1)
    TagVote.objects.create(photo_tag=answered, user=alice, value="confirm")
    assert list(uncertain_suggestions(alice)) == [offered, own_private]


def test_the_page_asks_about_one_suggestion_and_says_how_many_labels_the_tag_needs(
    alice: User, bob: User, settings: object
) -> None:
    settings.MIN_PHOTOS_PER_TAG = 3  # type: ignore[attr-defined]
    item = suggest(photo(bob), "lighthouse", 0.22)
    add_tag(photo=photo(alice), user=alice, name="lighthouse")  # the owner's tag: one vouched photo
    html = signed_in(alice).get("/help/").content.decode()
    assert "Is this <strong>#lighthouse</strong>?" in html
    assert "is 22% sure" in html
    assert "2 more confirmed photos and #lighthouse joins the next model." in html
    assert f"/help/{item.pk}/confirm/" in html


def test_confirming_records_the_vote_counts_it_and_brings_the_next_suggestion(alice: User, bob: User) -> None:
    first = suggest(photo(bob), "boat", 0.2)
    second = suggest(photo(bob), "harbour", 0.3)
    client = signed_in(alice)
    response = client.post(f"/help/{first.pk}/confirm/", {"view": "one"})
    html = response.content.decode()
    assert response.status_code == 200
    assert TagVote.objects.get(photo_tag=first, user=alice).value == "confirm"
    assert "Thanks: #boat confirmed." in html
    assert "Is this <strong>#harbour</strong>?" in html and f"/help/{second.pk}/reject/" in html
    assert '<p class="counter" id="contrib-count" role="status" hx-swap-oob="true"><strong>1</strong>' in html
    assert contributions(alice) == 1


def test_rejecting_in_the_grid_marks_the_card_answered(alice: User, bob: User) -> None:
    item = suggest(photo(bob), "kite", 0.2)
    html = signed_in(alice).post(f"/help/{item.pk}/reject/", {"view": "grid"}).content.decode()
    assert "#kite rejected ✗" in html and 'class="help-card answered"' in html
    assert TagVote.objects.get(photo_tag=item, user=alice).value == "reject"


def test_a_skipped_suggestion_is_not_offered_again_in_this_session(alice: User, bob: User) -> None:
    skipped = suggest(photo(bob), "cloud", 0.1)
    client = signed_in(alice)
    client.post(f"/help/{skipped.pk}/skip/", {"view": "one"})
    assert "#cloud</strong>" not in client.get("/help/").content.decode()
    assert not TagVote.objects.filter(photo_tag=skipped).exists()


def test_nobody_can_answer_a_suggestion_on_a_photo_they_may_not_see(alice: User, bob: User) -> None:
    hidden = suggest(photo(bob, "private"), "secret", 0.2)
    assert signed_in(alice).post(f"/help/{hidden.pk}/confirm/").status_code == 404
    assert Client().get("/help/").status_code == 302  # to the log-in page
    assert not TagVote.objects.exists()


def test_with_nothing_left_to_review_the_page_says_so(alice: User) -> None:
    html = signed_in(alice).get("/help/?view=grid").content.decode()
    assert "Nothing left to review." in html


def test_contributions_count_each_tag_once_whether_added_vouched_for_or_both(alice: User, bob: User) -> None:
    mine = photo(alice)
    add_tag(photo=mine, user=alice, name="harbour")
    assert TagVote.objects.filter(photo_tag__photo=mine, user=alice).exists()  # added and vouched for
    theirs = photo(bob)
    for name, value in (("boat", "confirm"), ("kite", "reject")):
        TagVote.objects.create(photo_tag=suggest(theirs, name, 0.4), user=alice, value=value)
    TagVote.objects.create(photo_tag=suggest(theirs, "cloud", 0.4), user=bob, value="confirm")

    assert contributions(alice) == 3
    assert contributions(bob) == 1


def test_contributions_are_counted_in_the_background_and_what_came_since_is_added(
    alice: User, bob: User
) -> None:
    theirs = photo(bob)
    add_tag(photo=photo(alice), user=alice, name="harbour")
    TagVote.objects.create(photo_tag=suggest(theirs, "boat", 0.4), user=alice, value="confirm")
    add_tag(photo=theirs, user=bob, name="pier")
    counts.refresh()
    assert dict(ContributionCount.objects.values_list("user__username", "contributions")) == {
        "alice": 2,
        "bob": 1,
    }
    ContributionCount.objects.filter(user=alice).update(contributions=20)  # stands for a long history

    add_tag(photo=theirs, user=alice, name="quay")  # a tag on Bob's public photo, and her vote on it
    TagVote.objects.create(photo_tag=suggest(theirs, "kite", 0.4), user=alice, value="reject")

    assert contributions(alice) == 22
    counts.refresh()
    assert contributions(alice) == 4 and contributions(bob) == 1
