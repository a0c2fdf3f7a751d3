"""Album pages: my albums, one album, and the owner's and contributors' changes to it. Thin views
over api.albums.selectors (who sees what: an album never widens who may see a photo) and
api.albums.services (who may change what), so the site and the API agree.

A change that is refused re-renders the page it came from with the reason and what was typed,
as a 400 (bad input) or a 403 (not allowed), rather than redirecting and losing both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from api.accounts.selectors import signed_in_user
from api.albums import selectors, services
from api.albums.models import Album, Role
from api.photos import selectors as photo_selectors
from api.photos.models import Photo, Visibility
from api.tags.selectors import with_their_tags
from web.galleries import keyset_page
from web.photo_page import photo_page_answer

NOT_SHARED = "No album with this id, or it is not shared with you."
# A contributor picks from their latest photos; older ones are added from their photo pages.
ADDABLE_PHOTOS = 24


class _Refused(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@contextmanager
def _refusals() -> Iterator[None]:
    """A service's refusal as the person should read it: bad input 400, not allowed 403."""
    try:
        yield
    except services.AlbumRejected as error:
        raise _Refused(str(error), 400) from error
    except PermissionDenied as error:
        raise _Refused(str(error) or "You may not change this album.", 403) from error


def _photo_ids(values: list[str]) -> list[int]:
    try:
        return [int(value) for value in values]
    except ValueError:
        raise _Refused("Photos are named by their numbers; choose them from the list.", 400) from None


def _viewable(request: HttpRequest, pk: int, token: str | None = None) -> Album:
    album = selectors.viewable_album(request.user, pk, token)
    if album is None:
        raise Http404(NOT_SHARED)
    return album


# ---------------------------------------------------------------- my albums


def _albums_page(
    request: HttpRequest, *, error: str = "", typed: dict[str, str] | None = None
) -> HttpResponse:
    albums = list(selectors.my_albums(request.user))
    context = {
        "mine": [album for album in albums if album.owner_id == request.user.pk],
        "shared": [album for album in albums if album.owner_id != request.user.pk],
        "visibilities": Visibility.choices,
        "typed": typed or {"visibility": Visibility.PRIVATE},
        "error": error,
    }
    return render(request, "web/albums.html", context, status=400 if error else 200)


@login_required
def album_list(request: HttpRequest) -> HttpResponse:
    return _albums_page(request)


@login_required
@require_POST
def album_new(request: HttpRequest) -> HttpResponse:
    typed = {key: request.POST.get(key, "") for key in ("title", "description", "visibility")}
    try:
        with _refusals():
            album = services.create_album(owner=signed_in_user(request), **typed)
    except _Refused as refused:
        return _albums_page(request, error=str(refused), typed=typed)
    messages.success(request, f"Album “{album.title}” made. Add photos from their pages.")
    return redirect("web:album", pk=album.pk)


# ---------------------------------------------------------------- one album


def _album_photos(request: HttpRequest, album: Album) -> QuerySet[Photo]:
    return (
        selectors.album_photos(request.user, album)
        .annotate(album_position=F("album_entries__position"), entry_id=F("album_entries__id"))
        .order_by("album_position", "entry_id")
        .prefetch_related(with_their_tags())
    )


def _album_page(
    request: HttpRequest, album: Album, token: str | None, *, error: str = "", status: int = 200, **typed: str
) -> HttpResponse:
    role = selectors.role_of(request.user, album)
    page, next_url = keyset_page(request, _album_photos(request, album))
    if next_url and request.path != album_path(album):
        # A refused change re-renders the album at the change's URL; "more" must still GET the album.
        next_url = album_path(album) + next_url[len(request.path) :]
    context: dict[str, Any] = {
        "album": album,
        "role": role,
        "is_owner": role == "owner",
        "photos": page,
        "next_url": next_url,
        "share_token": token or "",
        "error": error,
        "typed": typed,
    }
    if request.headers.get("HX-Request") and request.GET.get("before"):
        return render(request, "web/_album_grid_page.html", context)
    download = reverse("album-download", kwargs={"pk": album.pk})
    context.update(
        cover=selectors.visible_cover(request.user, album),
        # Who is in it is for its owner and members, as in the API.
        members=list(selectors.members_of(album)) if role else [],
        addable=list(selectors.photos_to_add(request.user, album)[:ADDABLE_PHOTOS])
        if role in selectors.ADDERS
        else [],
        download_url=download + (f"?share={token}" if token and not role else ""),
        share_url=request.build_absolute_uri(f"{album_path(album)}?s={album.share_token}")
        if role == "owner" and album.visibility == Visibility.UNLISTED
        else None,
        visibilities=Visibility.choices,
        roles=Role.choices,
    )
    return render(request, "web/album.html", context, status=status)


def album_path(album: Album) -> str:
    return reverse("web:album", kwargs={"pk": album.pk})


def album_page(request: HttpRequest, pk: int) -> HttpResponse:
    token = request.GET.get("s") or None
    return _album_page(request, _viewable(request, pk, token), token)


def _change(request: HttpRequest, pk: int, change: Callable[[Album], str], **typed: str) -> HttpResponse:
    """Runs one change of an album the person may see (members and the owner need no link), then
    back to the album with what happened; a refusal re-renders the album page with the reason."""
    album = _viewable(request, pk)
    try:
        with _refusals():
            done = change(album)
    except _Refused as refused:
        album.refresh_from_db()
        return _album_page(request, album, None, error=str(refused), status=refused.status, **typed)
    messages.success(request, done)
    return redirect(album_path(album))


@login_required
@require_POST
def album_edit(request: HttpRequest, pk: int) -> HttpResponse:
    post = request.POST
    typed = {key: post[key] for key in ("title", "description", "visibility") if key in post}

    def edit(album: Album) -> str:
        cover: int | bool | None = False  # False leaves the cover as it is
        if "cover" in post:
            cover = None if post["cover"] == "" else _photo_ids([post["cover"]])[0]
        services.update_album(user=signed_in_user(request), album=album, cover=cover, **typed)
        return "The cover is set." if cover and not typed else "Saved."

    return _change(request, pk, edit, **typed)


@login_required
@require_POST
def album_delete(request: HttpRequest, pk: int) -> HttpResponse:
    album = _viewable(request, pk)
    try:
        with _refusals():
            services.delete_album(user=signed_in_user(request), album=album)
    except _Refused as refused:
        return _album_page(request, album, None, error=str(refused), status=refused.status)
    messages.success(request, f"The album “{album.title}” was deleted; its photos stay where they were.")
    return redirect("web:albums")


@login_required
@require_POST
def album_invite(request: HttpRequest, pk: int) -> HttpResponse:
    username = request.POST.get("username", "").strip()
    role = request.POST.get("role", Role.VIEWER)

    def invite(album: Album) -> str:
        if role not in Role.values:
            raise services.AlbumRejected(f"A member is a viewer or a contributor, not {role!r}.")
        member = services.invite(user=signed_in_user(request), album=album, username=username, role=role)
        return f"@{member.user.username} is in the album as a {member.role}."

    return _change(request, pk, invite, username=username)


@login_required
@require_POST
def album_member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in_user(request)
    username = request.POST.get("username", "")
    album = _viewable(request, pk)
    try:
        with _refusals():
            removed = services.remove_member(user=user, album=album, username=username)
    except _Refused as refused:
        return _album_page(request, album, None, error=str(refused), status=refused.status)
    if username == user.username:
        messages.success(request, f"You left the album “{album.title}”.")
        return redirect("web:albums")
    messages.success(request, f"@{username} is no longer in the album." if removed else "Nobody was removed.")
    return redirect(album_path(album))


def _back(request: HttpRequest, album: Album) -> str:
    wanted = request.POST.get("next", "")
    if wanted and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}):
        return wanted
    return album_path(album)


@login_required
@require_POST
def album_add_photos(request: HttpRequest, pk: int) -> HttpResponse:
    def add(album: Album) -> str:
        added = services.add_photos(
            user=signed_in_user(request), album=album, photo_ids=_photo_ids(request.POST.getlist("photo"))
        )
        return f"Added {len(added)} photo{'' if len(added) == 1 else 's'}." if added else "Already there."

    return _change(request, pk, add)


@login_required
@require_POST
def album_remove_photo(request: HttpRequest, pk: int, photo: int) -> HttpResponse:
    def remove(album: Album) -> str:
        removed = services.remove_photos(user=signed_in_user(request), album=album, photo_ids=[photo])
        return "The photo was taken out of the album (it is still yours)." if removed else "It was not there."

    return _change(request, pk, remove)


@login_required
@require_POST
def album_move(request: HttpRequest, pk: int, photo: int, direction: str) -> HttpResponse:
    steps = {"up": -1, "down": 1}
    if direction not in steps:
        raise Http404("Photos move up or down.")

    def move(album: Album) -> str:
        shown = list(selectors.album_photos(request.user, album).values_list("pk", flat=True))
        services.move_photo(
            user=signed_in_user(request), album=album, photo_id=photo, step=steps[direction], among=shown
        )
        return f"Moved {direction}."

    return _change(request, pk, move)


# ---------------------------------------------------------------- from a photo's page


@login_required
@require_POST
def photo_add_to_album(request: HttpRequest, pk: int) -> HttpResponse:
    """The photo page's "Add to album": one of the person's own photos into an album they own or
    contribute to (the service says no to anyone else, and to anyone else's photo)."""
    photo = photo_selectors.viewable_photo(request.user, pk)
    if photo is None:
        raise Http404("No photo with this id, or it is not shared with you.")
    chosen = request.POST.get("album", "")
    try:
        if not chosen.isdigit():
            raise _Refused("Choose one of your albums, or one you contribute to.", 400)
        album = _viewable(request, int(chosen))
        with _refusals():
            services.add_photos(user=signed_in_user(request), album=album, photo_ids=[photo.pk])
    except _Refused as refused:
        return photo_page_answer(request, photo, None, status=refused.status, album_error=str(refused))
    messages.success(request, f"Added to the album “{album.title}”.")
    return redirect(album_path(album))
