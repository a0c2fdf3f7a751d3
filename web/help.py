"""'Help the model': the model's least certain suggestions, one at a time or as a grid, each a
click (or a key) away from becoming a label the trainer learns from."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from api.accounts.selectors import signed_in_user
from api.photos import selectors
from api.tags import services as tag_services
from api.tags.models import PhotoTag, Vote
from api.tags.selectors import contributions, uncertain_suggestions
from api.training.selectors import labels_still_needed

SKIPPED = "help-skipped"
GRID_SIZE = 12


def _view(request: HttpRequest) -> str:
    return "grid" if (request.GET.get("view") or request.POST.get("view")) == "grid" else "one"


def _items(request: HttpRequest, limit: int) -> list[PhotoTag]:
    user = signed_in_user(request)
    items = list(uncertain_suggestions(user, skip=request.session.get(SKIPPED, []), limit=limit))
    needed = labels_still_needed({item.tag.name for item in items})
    for item in items:
        item.labels_needed = needed[item.tag.name]  # type: ignore[attr-defined]
    return items


def _context(request: HttpRequest, view: str, **extra: Any) -> dict[str, Any]:
    return {"view": view, "contributions": contributions(signed_in_user(request)), **extra}


@login_required
def help_page(request: HttpRequest) -> HttpResponse:
    view = _view(request)
    items = _items(request, GRID_SIZE if view == "grid" else 1)
    return render(request, "web/help.html", _context(request, view, items=items))


@login_required
@require_POST
def help_answer(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Records the answer and sends what takes the card's place: the next suggestion (one at a
    time) or a note of the answer (grid), with the contribution counter updated out of band."""
    item = get_object_or_404(PhotoTag.objects.select_related("tag"), pk=pk)
    photo = selectors.viewable_photo(request.user, item.photo_id)
    if photo is None:
        raise Http404("No such suggestion, or its photo is not shared with you.")
    error = None
    if action == "skip":
        # Bounded: a long session of skips must not grow the session row without limit.
        request.session[SKIPPED] = [*request.session.get(SKIPPED, [])[-199:], item.pk]
    elif action in {Vote.CONFIRM, Vote.REJECT}:
        try:
            tag_services.vote(photo=photo, user=signed_in_user(request), name=item.tag.name, value=action)
        except tag_services.TagNotAllowed as refused:
            error = str(refused)
    else:
        raise Http404("Unknown answer")
    view = _view(request)
    context = _context(request, view, answered=item, action=action, error=error, oob=True)
    if view == "one":
        context["items"] = _items(request, 1)
        return render(request, "web/_help_one.html", context)
    return render(request, "web/_help_answered.html", context)
