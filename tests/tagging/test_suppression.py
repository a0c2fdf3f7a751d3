"""Day-zero tags people voted down for good (api/tagging/suppression.py): the rule, read from the
tag counts beat keeps, so a decision reaches the workers' list at the next recount."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from api.tagging import suppression
from api.tags import counts
from api.tags.models import PhotoTag, Tag, TagSource, TagState
from api.tags.services import add_tag, vote
from tests.helpers.training import bare_photo

pytestmark = pytest.mark.django_db


class Guesses:
    """Day-zero suggestions on fresh photos of one owner, decided by the owner's votes."""

    def __init__(self, owner: User) -> None:
        self.owner = owner
        self.photos = 0

    def suggest(self, name: str) -> PhotoTag:
        self.photos += 1
        return PhotoTag.objects.create(
            photo=bare_photo(self.owner, self.photos), tag=Tag.objects.get_or_create(name=name)[0],
            source=TagSource.MODEL, state=TagState.SUGGESTED, score=0.4, model_version=0,
        )  # fmt: skip

    def decide(self, name: str, *, rejected: int = 0, confirmed: int = 0) -> None:
        for value, times in (("reject", rejected), ("confirm", confirmed)):
            for _ in range(times):
                photo_tag = self.suggest(name)
                vote(photo=photo_tag.photo, user=self.owner, name=name, value=value)


@pytest.fixture
def rule(settings: Any) -> None:
    settings.DAY_ZERO_SUPPRESS_REJECTIONS = 5
    settings.DAY_ZERO_SUPPRESS_RATIO = 3


def test_a_tag_is_suppressed_once_rejected_often_enough_and_far_more_often_than_confirmed(
    alice: User, rule: None
) -> None:
    guesses = Guesses(alice)
    guesses.decide("lynx", rejected=6, confirmed=2)  # 6 >= 5, and 3 times 2
    guesses.decide("tabby", rejected=5, confirmed=2)  # 5 < 3 times 2
    guesses.decide("jean", rejected=4)  # too few
    guesses.decide("hamper", rejected=5)
    for _ in range(3):
        guesses.suggest("jean")  # undecided suggestions say nothing

    counts.refresh()
    assert [(s.tag, s.rejected, s.confirmed) for s in suppression.suppressed()] == [
        ("lynx", 6, 2),
        ("hamper", 5, 0),
    ]


def test_tags_people_added_and_then_rejected_do_not_count(alice: User, rule: None) -> None:
    for n in range(6):
        photo = bare_photo(alice, n)
        add_tag(photo=photo, user=alice, name="lynx")
        vote(photo=photo, user=alice, name="lynx", value="reject")

    assert PhotoTag.objects.filter(tag__name="lynx", state=TagState.REJECTED).count() == 6
    counts.refresh()
    assert suppression.suppressed() == []


def test_the_workers_list_changes_with_the_next_recount(alice: User, rule: None) -> None:
    guesses = Guesses(alice)
    guesses.decide("lynx", rejected=4)
    counts.refresh()
    assert suppression.suppressed_names() == frozenset()

    fifth = guesses.suggest("lynx")
    counts.refresh()
    assert suppression.suppressed_names() == frozenset()  # a new suggestion decides nothing
    vote(photo=fifth.photo, user=alice, name="lynx", value="reject")
    assert suppression.suppressed_names() == frozenset()  # until the recount
    counts.refresh()

    assert suppression.suppressed_names() == {"lynx"}
    guesses.decide("lynx", confirmed=2)  # 5 rejections, 2 confirmations: 5 < 3 times 2
    counts.refresh()
    assert suppression.suppressed_names() == frozenset()
