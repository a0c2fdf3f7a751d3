"""Galleries: the feed, profiles, favourites, the following feed, tag pages and search, and the
grid card they poll while a photo is being tagged. Tag pages and search say how far people
vouched for the searched tags."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.db.models import Model, QuerySet, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import render

from api.accounts.selectors import signed_in_user
from api.pagination import beyond, page_size, parse_position, position_of, sort_keys
from api.photos import selectors
from api.photos.models import Photo
from api.social.selectors import following_feed, my_favourites, person_card
from api.tags import services as tag_services
from api.tags.selectors import attach_tags, known_tags, with_their_tags

_Row = TypeVar("_Row", bound=Model)


def keyset_page(request: HttpRequest, rows: QuerySet[_Row]) -> tuple[list[_Row], str | None]:
    """Keyset paging on the list's whole sort key (the id, or a tag search's rank then the id):
    new uploads never shift what the next page shows."""
    keys = sort_keys(rows)
    position = parse_position(request.GET.get("before", ""), keys)
    if position is not None:
        rows = rows.filter(beyond(keys, position))
    size = page_size()
    page = list(rows.order_by(*keys)[: size + 1])
    if len(page) <= size:
        return page, None
    page = page[:size]
    query = request.GET.copy()
    query["before"] = position_of(page[-1], keys)
    return page, f"{request.path}?{query.urlencode()}"


def gallery(request: HttpRequest, photos: QuerySet[Photo], template: str, **context: Any) -> HttpResponse:
    photos = photos.prefetch_related(with_their_tags())
    page, next_url = keyset_page(request, photos)
    context.update(photos=page, next_url=next_url)
    if request.headers.get("HX-Request") and request.GET.get("before"):
        return render(request, "web/_grid_page.html", context)
    return render(request, template, context)


def feed(request: HttpRequest) -> HttpResponse:
    # Visitors, and members who have uploaded nothing yet, are told what the site is for.
    newcomer = (
        not request.user.is_authenticated or not Photo.objects.filter(owner_id=request.user.pk).exists()
    )
    return gallery(request, selectors.listed_photos(request.user), "web/feed.html", newcomer=newcomer)


def profile(request: HttpRequest, username: str) -> HttpResponse:
    card = person_card(request.user, username)
    if card is None:
        raise Http404(f"There is nobody called {username!r} here.")
    photos = selectors.listed_photos(request.user).filter(owner__username=card.username)
    return gallery(request, photos, "web/profile.html", card=card)


@login_required
def favourites(request: HttpRequest) -> HttpResponse:
    """The viewer's favourites that they may still see, newest photo first."""
    return gallery(request, my_favourites(signed_in_user(request)), "web/favourites.html")


@login_required
def following(request: HttpRequest) -> HttpResponse:
    """Public photos of the people the viewer follows, newest first."""
    return gallery(request, following_feed(signed_in_user(request)), "web/following.html")


class _BadTagState(ValueError):
    pass


def _tag_state(request: HttpRequest) -> str:
    raw = request.GET.get("tag_state") or selectors.TagStateFilter.ANY
    if raw not in selectors.TagStateFilter.values:
        raise _BadTagState("tag_state: " + selectors.UNKNOWN_TAG_STATE.format(input=raw))
    return raw


def _tag_search_context(request: HttpRequest, tags: list[str], tag_state: str) -> dict[str, Any]:
    """What a tag or search page needs to offer the other tag state, and what a card that is
    still being tagged polls with to keep its badges."""
    other = request.GET.copy()
    other.pop("before", None)
    if tag_state == selectors.TagStateFilter.CONFIRMED:
        other.pop("tag_state", None)
    else:
        other["tag_state"] = selectors.TagStateFilter.CONFIRMED
    return {
        "searched_tags": tags,
        "tag_state": tag_state,
        "other_tag_state_url": f"{request.path}?{other.urlencode()}",
        "card_query": _card_query(tags, tag_state),
    }


def _card_query(tags: list[str], tag_state: str) -> str:
    if not tags:
        return ""
    query = QueryDict(mutable=True)
    query.setlist("tag", tags)
    query["tag_state"] = tag_state
    return query.urlencode()


def _refused(message: str) -> HttpResponse:
    # Plain text: the message quotes what was typed, which must never reach the page as HTML.
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def tag_page(request: HttpRequest, name: str) -> HttpResponse:
    try:
        name = tag_services.normalise(name)
        tag_state = _tag_state(request)
    except (tag_services.TagRejected, _BadTagState) as error:
        return _refused(str(error))
    photos = selectors.search_photos(request.user, tags=[name], tag_state=tag_state)
    return gallery(
        request, photos, "web/tag.html", tag_name=name, **_tag_search_context(request, [name], tag_state)
    )


def search(request: HttpRequest) -> HttpResponse:
    """The one search box (``q``): each word must be a tag of the photo or be in its caption.
    ``tag``/``tags`` are still the strict tag search that older links use."""
    raw_tags = request.GET.getlist("tag") + request.GET.get("tags", "").replace(",", " ").split()
    error = None
    try:
        tags = tag_services.normalise_many(raw_tags)
    except tag_services.TagRejected as rejected:
        tags, error = [], str(rejected)
    try:
        tag_state = _tag_state(request)
    except _BadTagState as bad:
        return _refused(str(bad))
    text = request.GET.get("q", "").strip()[:200]
    words = tag_services.search_words(text)
    photos = selectors.search_photos(request.user, tags=tags, tag_state=tag_state, words=words)
    word_tags = known_tags(request.user, [word.tag for word in words if word.tag and word.tag not in tags])
    return gallery(
        request,
        photos,
        "web/search.html",
        text=text,
        search_text=text or " ".join(tags),
        error=error,
        searched=bool(tags or words),
        word_tags=word_tags,
        **_tag_search_context(request, [*tags, *word_tags], tag_state),
    )


def photo_card(request: HttpRequest, pk: int) -> HttpResponse:
    """One grid card: galleries poll this for photos that are still being tagged. A tag or search
    page's card names the searched tags, so that it keeps saying how they stand."""
    photo = selectors.viewable_photo(request.user, pk)
    if photo is None:
        raise Http404("No photo with this id, or it is not shared with you.")
    attach_tags([photo])
    context: dict[str, Any] = {"photo": photo}
    if request.GET.getlist("tag"):
        try:
            tags = tag_services.normalise_many(request.GET.getlist("tag"))
            tag_state = _tag_state(request)
        except (tag_services.TagRejected, _BadTagState) as error:
            return _refused(str(error))
        prefetch_related_objects([photo], selectors.matched_tags(tags, tag_state))
        context["card_query"] = _card_query(tags, tag_state)
    return render(request, "web/_card.html", context)
