"""Tags in each standing a tag search tells apart: confirmed by people, suggested by a person,
guessed by the model with its score."""

from __future__ import annotations

from django.contrib.auth.models import User

from api.photos.models import Photo
from api.tags.models import PhotoTag, Tag, TagSource, TagState
from api.tags.services import add_tag, vote


def model_suggests(photo: Photo, name: str, score: float, version: int = 1) -> PhotoTag:
    """What the tagging worker writes: a suggestion with its score and the version that made it."""
    return PhotoTag.objects.create(
        photo=photo,
        tag=Tag.objects.get_or_create(name=name)[0],
        source=TagSource.MODEL,
        state=TagState.SUGGESTED,
        score=score,
        model_version=version,
    )


def owner_tags(photo: Photo, name: str) -> PhotoTag:
    """The owner's own tag, confirmed at once."""
    return add_tag(photo=photo, user=photo.owner, name=name)


def person_suggests(photo: Photo, person: User, name: str) -> PhotoTag:
    """Someone else's tag on a public photo: a suggestion until more people vouch for it."""
    return add_tag(photo=photo, user=person, name=name)


def someone_confirms(photo: Photo, person: User, name: str) -> PhotoTag:
    return vote(photo=photo, user=person, name=name, value="confirm")


def someone_rejects(photo: Photo, person: User, name: str) -> PhotoTag:
    return vote(photo=photo, user=person, name=name, value="reject")
