"""The tag chips on a photo page, as each role sees them: the owner's one remove, others' votes,
and the note when the owner decided."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from api.photos.models import Photo
from api.photos.services import upload_photo
from api.tags.models import PhotoTag, Tag, TagSource, TagState
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db


def signed_in(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def chip(client: Client, photo: Photo, name: str) -> str:
    html = client.get(f"/p/{photo.pk}/tags-fragment/").content.decode()
    found = re.search(rf'<li class="chip[^"]*" data-tag="{name}".*?</li>', html, re.S)
    assert found, html
    return found.group(0)


def buttons(chip_html: str) -> list[str]:
    return re.findall(r'aria-label="(\w+) ', chip_html)


@pytest.fixture
def beach(alice: User) -> Photo:
    photo = upload_photo(owner=alice, data=image_bytes(color=(20, 90, 200)), tag_names=["sea"])
    sand, _ = Tag.objects.get_or_create(name="sand")
    PhotoTag.objects.create(
        photo=photo, tag=sand, source=TagSource.MODEL, state=TagState.SUGGESTED, score=0.8
    )
    return photo


def test_the_owner_has_one_remove_and_no_reject_beside_it(alice: User, beach: Photo) -> None:
    owner = signed_in(alice)

    assert buttons(chip(owner, beach, "sand")) == ["Confirm", "Remove"]
    assert buttons(chip(owner, beach, "sea")) == ["Remove"]
    assert "kept as rejected, so the model learns it" in chip(owner, beach, "sand")
    assert "owner decided" not in chip(owner, beach, "sea")


def test_the_owners_remove_on_a_model_suggestion_keeps_it_rejected_with_a_way_back(
    alice: User, beach: Photo
) -> None:
    owner = signed_in(alice)

    owner.post(f"/p/{beach.pk}/tags/sand/remove/")

    assert PhotoTag.objects.get(photo=beach, tag__name="sand").state == TagState.REJECTED
    assert buttons(chip(owner, beach, "sand")) == ["Confirm"]


def test_others_confirm_or_reject_and_are_told_when_the_owner_decided(
    alice: User, bob: User, beach: Photo
) -> None:
    other = signed_in(bob)

    decided = chip(other, beach, "sea")
    open_question = chip(other, beach, "sand")

    assert buttons(decided) == ["Reject"] and buttons(open_question) == ["Confirm", "Reject"]
    assert "owner decided" in decided
    assert 'title="The owner decided; your vote is noted but does not change this tag"' in decided
    assert "owner decided" not in open_question


def test_a_visitor_signed_out_sees_the_chips_without_buttons_or_notes(alice: User, beach: Photo) -> None:
    visitor = chip(signed_in(None), beach, "sea")

    assert buttons(visitor) == [] and "owner decided" not in visitor
