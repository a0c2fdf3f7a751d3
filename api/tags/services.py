"""Tags on photos: names, who may add or remove them, and votes.

The state rule (documented in the README):
- the owner's word decides: an owner's confirm or reject sets the state;
- otherwise a model suggestion becomes confirmed or rejected on the first person's vote,
  and a tag another person suggested needs ``TAG_CONFIRMATIONS_REQUIRED`` distinct votes;
- when votes disagree the majority wins, and a tie leaves the tag suggested.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from api.notifications.models import Kind
from api.notifications.services import notify
from api.photos.models import Photo
from api.photos.selectors import Word
from api.tags.models import PhotoTag, Tag, TagSource, TagState, TagVote, Vote
from api.tags.selectors import can_take_part

_VALID_NAME = re.compile(r"^[\w-]+$")


class TagRejected(ValueError):
    """A tag name or action that cannot be accepted; the message is shown to the person."""


class TagNotAllowed(PermissionError):
    """The person may not do this to this photo's tags."""


def normalise(raw: str) -> str:
    name = re.sub(r"\s+", "_", str(raw).strip().lstrip("#").strip().lower())
    if not name:
        raise TagRejected("A tag needs at least one letter or digit.")
    limit = settings.TAG_MAX_LENGTH
    if len(name) > limit:
        raise TagRejected(f"Tag '{name[:20]}…' is {len(name)} characters long; the limit is {limit}.")
    if not _VALID_NAME.match(name):
        raise TagRejected(f"Tag '{name}' may contain only letters, digits, '_' and '-'.")
    return name


def normalise_many(raw: Iterable[str]) -> list[str]:
    """Accepts repeated values and comma-separated lists; drops duplicates, keeps order."""
    names: list[str] = []
    for value in raw:
        for part in str(value).split(","):
            if part.strip():
                name = normalise(part)
                if name not in names:
                    names.append(name)
    return names


def search_words(raw: str, *, limit: int = 10) -> list[Word]:
    """The words of a search box, each with its tag name when it can be one: "#Blue dress" is
    blue and dress, looked for as tags and in captions. At most ``limit`` words, so one request
    cannot ask for hundreds of subqueries."""
    words: list[Word] = []
    for part in raw.replace(",", " ").split():
        text = part.lstrip("#")
        if not text or any(word.text.lower() == text.lower() for word in words):
            continue
        try:
            tag: str | None = normalise(text)
        except TagRejected:
            tag = None
        words.append(Word(text=text, tag=tag))
    return words[:limit]


def _tag_named(name: str) -> Tag:
    try:
        with transaction.atomic():
            tag, _ = Tag.objects.get_or_create(name=name)
    except IntegrityError:  # created by a concurrent request between our read and write
        tag = Tag.objects.get(name=name)
    return tag


def recompute_state(photo_tag: PhotoTag) -> PhotoTag:
    votes = photo_tag.votes.all()
    owner_vote = next((v.value for v in votes if v.user_id == photo_tag.photo.owner_id), None)
    if owner_vote is not None:
        state = TagState.CONFIRMED if owner_vote == Vote.CONFIRM else TagState.REJECTED
    else:
        needed = 1 if photo_tag.source == TagSource.MODEL else settings.TAG_CONFIRMATIONS_REQUIRED
        confirms = sum(1 for v in votes if v.value == Vote.CONFIRM)
        rejects = sum(1 for v in votes if v.value == Vote.REJECT)
        if confirms >= needed and confirms > rejects:
            state = TagState.CONFIRMED
        elif rejects >= needed and rejects > confirms:
            state = TagState.REJECTED
        else:
            state = TagState.SUGGESTED
    if state != photo_tag.state:
        photo_tag.state = state
        photo_tag.save(update_fields=["state", "updated_at"])
    return photo_tag


def _record_vote(photo_tag: PhotoTag, user: User, value: str) -> PhotoTag:
    TagVote.objects.update_or_create(photo_tag=photo_tag, user=user, defaults={"value": value})
    return recompute_state(photo_tag)


def add_tag(*, photo: Photo, user: User, name: str) -> PhotoTag:
    """A person adds a tag: the owner's tags are confirmed at once; anyone else's is a suggestion
    that counts as their own confirmation. Adding a tag that is already there vouches for it."""
    if not can_take_part(user, photo):
        raise TagNotAllowed("Only the owner can tag a photo that is not public.")
    tag = _tag_named(normalise(name))
    with transaction.atomic():
        photo_tag, _ = PhotoTag.objects.select_for_update().get_or_create(
            photo=photo,
            tag=tag,
            defaults={
                "source": TagSource.USER,
                "state": TagState.SUGGESTED,
                "added_by": user,
            },
        )
        notify(recipient=photo.owner, actor=user, kind=Kind.TAG, photo=photo, detail=tag.name)
        return _record_vote(photo_tag, user, Vote.CONFIRM)


def vote(*, photo: Photo, user: User, name: str, value: str) -> PhotoTag:
    if not can_take_part(user, photo):
        raise TagNotAllowed("Only the owner can confirm or reject tags on a photo that is not public.")
    with transaction.atomic():
        photo_tag = _photo_tag(photo, name, lock=True)
        notify(
            recipient=photo.owner,
            actor=user,
            kind=Kind.VOTE,
            photo=photo,
            detail=f"{value} #{photo_tag.tag.name}",
        )
        return _record_vote(photo_tag, user, value)


def remove_tag(*, photo: Photo, user: User, name: str) -> PhotoTag | None:
    """The owner removes any tag. A tag someone other than the owner proposed or vouched for (a
    model suggestion, another person's tag) is kept as rejected by the owner's vote: a training
    negative, and a model suggestion is never made again. Deleting it threw away what the
    others said and what the owner decided. Only the owner's own tag that nobody else voted on
    is deleted: there is no one else's word to keep. Others may withdraw only a suggestion they
    made that no one else has vouched for. Returns the kept (rejected) tag, or None when the
    row is gone."""
    with transaction.atomic():
        photo_tag = _photo_tag(photo, name, lock=True)
        if user.is_authenticated and photo.owner_id == user.pk:
            owners_own = photo_tag.source == TagSource.USER and photo_tag.added_by_id == user.pk
            if owners_own and not photo_tag.votes.exclude(user=user).exists():
                photo_tag.delete()
                return None
            return _record_vote(photo_tag, user, Vote.REJECT)
        others_voted = photo_tag.votes.exclude(user=user).exists()
        if photo_tag.source == TagSource.USER and photo_tag.added_by_id == user.pk and not others_voted:
            photo_tag.delete()
            return None
    raise TagNotAllowed("Only the owner can remove this tag; you can reject it instead.")


def _photo_tag(photo: Photo, name: str, *, lock: bool = False) -> PhotoTag:
    rows = PhotoTag.objects.select_related("tag", "photo")
    if lock:
        rows = rows.select_for_update(of=("self",))
    photo_tag = rows.filter(photo=photo, tag__name=normalise(name)).first()
    if photo_tag is None:
        raise PhotoTag.DoesNotExist(f"This photo has no tag '{normalise(name)}'.")
    return photo_tag
