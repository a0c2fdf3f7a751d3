"""'Your photos': one's own photos with a checkbox each, and bulk actions over the ones ticked
(visibility, delete, add to an album), done by :mod:`api.photos.bulk`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from api.accounts.selectors import signed_in_user
from api.albums import selectors as album_selectors
from api.albums.services import AlbumRejected
from api.photos import bulk
from api.photos.models import Photo, Visibility
from api.photos.services import PhotoRejected
from web.galleries import gallery


@login_required
def my_photos(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    photos = Photo.objects.filter(owner=user).select_related("owner")
    return gallery(
        request,
        photos,
        "web/my_photos.html",
        albums=album_selectors.albums_to_add_to(user),
        visibilities=Visibility.choices,
        max_photos=bulk.MAX_PHOTOS,
    )


def _summary(outcomes: list[bulk.Outcome]) -> str:
    done = [o for o in outcomes if o.done]
    refused = [o for o in outcomes if not o.done]
    words = f"{len(done)} photo{'s' if len(done) != 1 else ''} done"
    if done:
        words += f" ({done[0].detail.rstrip('.')})"
    if refused:
        listed = ", ".join(str(o.photo) for o in refused[:10])
        words += f"; {len(refused)} left as they were: {refused[0].detail} ({listed})"
    return words + "."


@login_required
@require_POST
def bulk_action(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request, to="change photos")
    raw_ids = request.POST.getlist("photo")
    album = request.POST.get("album", "")
    try:
        if not all(i.isdigit() for i in raw_ids) or (album and not album.isdigit()):
            raise bulk.BulkRejected("Photo and album ids are whole numbers.")
        outcomes = bulk.apply(
            user=user,
            photo_ids=[int(i) for i in raw_ids],
            action=request.POST.get("action", ""),
            visibility=request.POST.get("visibility") or None,
            album_id=int(album) if album else None,
        )
    except (bulk.BulkRejected, PhotoRejected, AlbumRejected, PermissionDenied) as refused:
        messages.error(request, str(refused))
        return redirect("web:my-photos")
    messages.success(request, _summary(outcomes))
    return redirect("web:my-photos")
