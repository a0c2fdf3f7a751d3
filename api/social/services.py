"""Favourites and comments. Who may: anyone signed in who may see the photo favourites it and
comments on it; authors edit and delete their own comments; a photo's owner deletes any comment
on it. Comment text loses control characters, as captions do."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied

from api.notifications.models import Kind
from api.notifications.services import notify
from api.photos.models import Photo, Visibility
from api.photos.services import without_control_characters
from api.social.models import Comment, Favourite, Follow, Profile

COMMENT_MAX_LENGTH = 2000


class CommentRejected(ValueError):
    """A comment, follow or profile change that cannot be made; the message is shown to the
    person."""


def favourite(*, user: User, photo: Photo) -> bool:
    """Whether it was new."""
    _, created = Favourite.objects.get_or_create(user=user, photo=photo)
    if created:
        notify(recipient=photo.owner, actor=user, kind=Kind.FAVOURITE, photo=photo)
    return created


def unfavourite(*, user: User, photo: Photo) -> bool:
    removed, _ = Favourite.objects.filter(user=user, photo=photo).delete()
    return removed > 0


def _body(text: str) -> str:
    body = without_control_characters(text)
    if not body:
        raise CommentRejected("A comment needs some text.")
    if len(body) > COMMENT_MAX_LENGTH:
        raise CommentRejected(
            f"The comment is {len(body)} characters long; the limit is {COMMENT_MAX_LENGTH}."
        )
    return body


def add_comment(*, author: User, photo: Photo, text: str) -> Comment:
    comment = Comment.objects.create(author=author, photo=photo, body=_body(text))
    notify(recipient=photo.owner, actor=author, kind=Kind.COMMENT, photo=photo, detail=comment.body[:80])
    return comment


def edit_comment(*, user: User, comment: Comment, text: str) -> Comment:
    if comment.author_id != user.pk:
        raise PermissionDenied("Only its author can edit a comment.")
    comment.body = _body(text)
    comment.save(update_fields=["body", "updated_at"])
    return comment


def delete_comment(*, user: User, comment: Comment) -> None:
    if user.pk not in (comment.author_id, comment.photo.owner_id):
        raise PermissionDenied("Only its author or the photo's owner can delete a comment.")
    comment.delete()


BIO_MAX_LENGTH = 500


def follow(*, follower: User, username: str) -> bool:
    """Whether it was new. Following oneself or nobody is refused."""
    person = _person(username)
    if person.pk == follower.pk:
        raise CommentRejected("You cannot follow yourself.")
    _, created = Follow.objects.get_or_create(follower=follower, followee=person)
    if created:
        notify(recipient=person, actor=follower, kind=Kind.FOLLOWER)
    return created


def unfollow(*, follower: User, username: str) -> bool:
    removed, _ = Follow.objects.filter(follower=follower, followee=_person(username)).delete()
    return removed > 0


def update_profile(*, user: User, bio: str | None = None, avatar: int | bool | None = False) -> Profile:
    """``avatar`` False leaves it, None clears it, an id sets one of the person's public photos."""
    profile, _ = Profile.objects.get_or_create(user=user)
    if bio is not None:
        text = without_control_characters(bio)
        if len(text) > BIO_MAX_LENGTH:
            raise CommentRejected(f"The bio is {len(text)} characters long; the limit is {BIO_MAX_LENGTH}.")
        profile.bio = text
    if avatar is None:
        profile.avatar = None
    elif avatar is not False:
        photo = Photo.objects.filter(pk=avatar, owner=user, visibility=Visibility.PUBLIC).first()
        if photo is None:
            raise CommentRejected(
                f"Photo {avatar} is not one of your public photos, so it cannot be your avatar."
            )
        profile.avatar = photo
    profile.save()
    return profile


def _person(username: str) -> User:
    person = User.objects.filter(username=username, is_active=True).first()
    if person is None:
        raise PersonNotFound(f"There is nobody called {username!r} here.")
    return person


class PersonNotFound(LookupError):
    pass
