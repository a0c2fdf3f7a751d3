"""The page benchmark's social data, written through the services the site writes it with:
people following each other, albums with members and contributors, favourites and comments,
and the notifications those services send. Run after :func:`_pages_data.fill`."""

from __future__ import annotations

import argparse
import random
from typing import Any

SAYINGS = [
    "Love the colours here",
    "Where was this taken?",
    "Great light #summer",
    "This would look good on me",
    "Nice fit, what brand is it? #style",
    "Saved to my favourites",
]


def _follows(members: list[Any], rng: random.Random) -> int:
    from api.social.services import follow

    made = 0
    for person in members:
        for other in rng.sample([m for m in members if m.pk != person.pk], 8):
            made += follow(follower=person, username=other.username)
    return made


def _albums(members: list[Any], args: argparse.Namespace, rng: random.Random) -> dict[str, int]:
    """``--albums`` per member: a title, 30 of their photos, two people invited (a viewer and a
    contributor, who adds 10 of theirs); a third of them public, a third unlisted, a third
    private."""
    from api.albums.models import AlbumPhoto
    from api.albums.services import add_photos, create_album, invite, update_album
    from api.photos.models import Photo

    photos_of = {
        m.pk: list(Photo.objects.filter(owner=m, status="tagged").values_list("pk", flat=True))
        for m in members
    }
    visibilities = ["public", "unlisted", "private"]
    albums = 0
    for person in members:
        for i in range(args.albums):
            album = create_album(
                owner=person,
                title=f"{person.username}'s album {i + 1}",
                description="Photos I picked for this one.",
                visibility=visibilities[(albums + i) % 3],
            )
            mine = rng.sample(photos_of[person.pk], min(30, len(photos_of[person.pk])))
            add_photos(user=person, album=album, photo_ids=mine)
            viewer, contributor = rng.sample([m for m in members if m.pk != person.pk], 2)
            invite(user=person, album=album, username=viewer.username, role="viewer")
            invite(user=person, album=album, username=contributor.username, role="contributor")
            theirs = rng.sample(photos_of[contributor.pk], min(10, len(photos_of[contributor.pk])))
            add_photos(user=contributor, album=album, photo_ids=theirs)
            update_album(user=person, album=album, cover=mine[0])
            albums += 1
    return {"albums": albums, "album_photos": AlbumPhoto.objects.count()}


def _favourites_and_comments(members: list[Any], args: argparse.Namespace, rng: random.Random) -> None:
    """On public photos only, as anybody may see those: ``--favourites`` and ``--comments``
    spread over the members, each by someone other than the photo's owner."""
    from api.photos.models import Photo
    from api.social.services import add_comment, favourite

    public = list(Photo.objects.filter(visibility="public", status="tagged").only("pk", "owner_id"))
    made = 0
    while made < args.favourites:
        person, photo = rng.choice(members), rng.choice(public)
        if photo.owner_id != person.pk:
            made += favourite(user=person, photo=photo)
    for _ in range(args.comments):
        photo = rng.choice(public)
        author = rng.choice([m for m in members if m.pk != photo.owner_id])
        add_comment(author=author, photo=photo, text=rng.choice(SAYINGS))


def fill_social(args: argparse.Namespace, seed: int) -> dict[str, int]:
    from django.contrib.auth.models import User

    from api.notifications.models import Notification
    from api.social.models import Comment, Favourite, Follow

    rng = random.Random(seed + 1)
    members = list(User.objects.filter(username__startswith="member").order_by("username"))
    _follows(members, rng)
    counts = _albums(members, args, rng)
    _favourites_and_comments(members, args, rng)
    return {
        **counts,
        "follows": Follow.objects.count(),
        "favourites": Favourite.objects.count(),
        "comments": Comment.objects.count(),
        "notifications": Notification.objects.count(),
    }
