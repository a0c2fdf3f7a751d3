"""What the photo page shows: its tags with their votes, links and forms, and the conversation.
Both the photo views and the album views (adding a photo to an album from its page) answer with it."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from api.albums.selectors import albums_to_add_to
from api.photos import selectors, services
from api.photos.links import file_token, file_url, share_url
from api.photos.models import Photo, Visibility
from api.tags.models import TagSource, TagVote
from api.tags.selectors import can_take_part, photo_tags_with_votes
from web.conversation import conversation_context


def photo_context(request: HttpRequest, photo: Photo, share_token: str | None) -> dict[str, Any]:
    is_owner = services.is_owner(request.user, photo)
    token = file_token(request.user, photo, share_token)
    tags = list(
        photo_tags_with_votes()
        .filter(photo=photo)
        .prefetch_related(Prefetch("votes", queryset=TagVote.objects.select_related("user")))
    )
    for t in tags:
        # The owner's vote decides the state (api/tags/services.py): others' votes are noted only.
        t.owner_decided = any(v.user_id == photo.owner_id for v in t.votes.all())  # type: ignore[attr-defined]
    return {
        "photo": photo,
        "is_owner": is_owner,
        "share_token": share_token or "",
        "tags": tags,
        # False says "no confident suggestion" in words, rather than leaving the model's part blank.
        "model_suggested": any(t.source == TagSource.MODEL for t in tags),
        "can_tag": can_take_part(request.user, photo),
        "display_url": file_url(photo, "display", token),
        "original_url": file_url(photo, "original", token),
        "share_url": share_url(request, photo),
        "visibilities": Visibility.choices,
        "location": selectors.visible_location(request.user, photo),
        # Only one's own photos go into albums, so only the owner is offered them.
        "albums_to_add": list(albums_to_add_to(request.user)) if is_owner else [],
    }


def photo_page_answer(
    request: HttpRequest, photo: Photo, share_token: str | None, *, status: int = 200, **extra: Any
) -> HttpResponse:
    # The favourite button and comments only on the whole page: the tag chips' fragment, polled
    # every second while the model works, has no use for them.
    context = {**photo_context(request, photo, share_token), **conversation_context(request, photo), **extra}
    return render(request, "web/photo.html", context, status=status)
