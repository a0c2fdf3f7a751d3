"""What people say about a photo on its page: the favourite toggle and the comments. Thin views
over api.social's services and selectors; whoever cannot see the photo gets a 404 here, as on the
photo page, so neither its comments nor its favourites can leak.

HTMX forms get the fragment back (an error inside it, with a 4xx status that site.js swaps in for
elements marked ``data-swap-refusals``); a plain form post gets the photo page, or a redirect."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from rest_framework.throttling import ScopedRateThrottle

from api.accounts.selectors import signed_in_user
from api.photos.models import Photo
from api.photos.selectors import viewable_photo
from api.social import selectors, services
from api.social.models import Comment


def conversation_context(request: HttpRequest, photo: Photo) -> dict[str, Any]:
    """The favourite button and the comments, for the photo page and its fragments (2 queries)."""
    favourited, favourites = selectors.favourite_state(request.user, photo)
    return {
        "favourited": favourited,
        "favourites": favourites,
        "comments": list(selectors.comments_on(photo)),
    }


def _photo(request: HttpRequest, pk: int) -> tuple[Photo, str]:
    token = request.POST.get("s") or request.GET.get("s") or ""
    photo = viewable_photo(request.user, pk, token or None)
    if photo is None:
        raise Http404("No photo with this id, or it is not shared with you.")
    return photo, token


def _comment(request: HttpRequest, pk: int) -> tuple[Comment, str]:
    token = request.POST.get("s") or ""
    comment = Comment.objects.select_related("photo__owner", "author").filter(pk=pk).first()
    if comment is None or viewable_photo(request.user, comment.photo_id, token or None) is None:
        raise Http404("No comment with this id, or its photo is not shared with you.")
    return comment, token


def _photo_page_url(photo: Photo, token: str, anchor: str) -> str:
    query = f"?{urlencode({'s': token})}" if token else ""
    return f"{reverse('web:photo', args=[photo.pk])}{query}#{anchor}"


def _answer(
    request: HttpRequest,
    photo: Photo,
    token: str,
    fragment: str,
    *,
    error: str = "",
    status: int = 200,
    draft: str = "",
) -> HttpResponse:
    if not request.headers.get("HX-Request"):
        if not error:
            return redirect(
                _photo_page_url(photo, token, fragment.removeprefix("web/_").removesuffix(".html"))
            )
        # Without htmx: a page that says why, keeps the text and leads back to the photo.
        context = {"photo": photo, "share_token": token, "error": error, "draft": draft,
                   "back": _photo_page_url(photo, token, "comments")}  # fmt: skip
        return render(request, "web/comment_refused.html", context, status=status)
    context = {
        "photo": photo,
        "share_token": token,
        "is_owner": photo.owner_id == request.user.pk,
        "comment_error": error,
        "comment_draft": draft,
        **conversation_context(request, photo),
    }
    return render(request, fragment, context, status=status)


# ---------------------------------------------------------------- favourites


@login_required
@require_POST
def favourite(request: HttpRequest, pk: int) -> HttpResponse:
    """``favourite=1`` adds the photo to one's favourites, ``0`` takes it out: the button says
    which it wants, so a double click cannot flip it back."""
    user = signed_in_user(request)
    photo, token = _photo(request, pk)
    if request.POST.get("favourite", "1") == "0":
        services.unfavourite(user=user, photo=photo)
    else:
        services.favourite(user=user, photo=photo)
    return _answer(request, photo, token, "web/_favourite.html")


# ---------------------------------------------------------------- comments


def _over_the_comment_rate(request: HttpRequest) -> str:
    """The API's "comments" rate (THROTTLE_COMMENTS), counted per person in the same cache
    entries: the site and the API are one door for it."""
    throttle = ScopedRateThrottle()
    if throttle.allow_request(request, SimpleNamespace(throttle_scope="comments")):  # type: ignore[arg-type]
        return ""
    wait = int(throttle.wait() or 60)
    return f"You are commenting too fast. Please wait {wait} seconds and send it again; your text is kept."


@login_required
@require_POST
def add_comment(request: HttpRequest, pk: int) -> HttpResponse:
    author = signed_in_user(request)
    photo, token = _photo(request, pk)
    text = request.POST.get("body", "")
    if refused := _over_the_comment_rate(request):
        return _answer(request, photo, token, "web/_comments.html", error=refused, status=429, draft=text)
    try:
        services.add_comment(author=author, photo=photo, text=text)
    except services.CommentRejected as error:
        return _answer(request, photo, token, "web/_comments.html", error=str(error), status=400, draft=text)
    return _answer(request, photo, token, "web/_comments.html")


@login_required
@require_POST
def edit_comment(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in_user(request)
    comment, token = _comment(request, pk)
    text = request.POST.get("body", "")
    try:
        services.edit_comment(user=user, comment=comment, text=text)
    except services.CommentRejected as error:
        return _answer(request, comment.photo, token, "web/_comments.html", error=str(error), status=400)
    return _answer(request, comment.photo, token, "web/_comments.html")


@login_required
@require_POST
def delete_comment(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in_user(request)
    comment, token = _comment(request, pk)
    services.delete_comment(user=user, comment=comment)
    return _answer(request, comment.photo, token, "web/_comments.html")
