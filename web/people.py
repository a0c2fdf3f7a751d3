"""People on the website: following someone from their profile, and editing one's own profile.
Thin views over api.social's services; the profile page itself is a gallery (web/galleries.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from api.accounts.selectors import signed_in_user
from api.photos import services as photo_services
from api.photos.models import Photo, Visibility
from api.social import selectors, services
from api.social.models import Profile

AVATAR_CHOICES = 48  # the newest public photos offered as an avatar; older ones by their number


@login_required
@require_POST
def follow(request: HttpRequest, username: str) -> HttpResponse:
    """``follow=1`` follows, ``0`` stops: the button says which it wants, so a double click
    cannot undo it."""
    follower = signed_in_user(request)
    error, status = "", 200
    try:
        if request.POST.get("follow", "1") == "0":
            services.unfollow(follower=follower, username=username)
        else:
            services.follow(follower=follower, username=username)
    except services.PersonNotFound as missing:
        raise Http404(str(missing)) from None
    except services.CommentRejected as refused:  # following oneself
        error, status = str(refused), 400
    if not request.headers.get("HX-Request"):
        if error:
            messages.error(request, error)
        return redirect("web:profile", username=username)
    card = selectors.person_card(request.user, username)
    return render(request, "web/_person.html", {"card": card, "follow_error": error}, status=status)


def _public_photos_of(user: User) -> QuerySet[Photo]:
    return Photo.objects.filter(owner=user, visibility=Visibility.PUBLIC).order_by("-id")


def _form(request: HttpRequest, user: User, *, bio: str, error: str = "", status: int = 200) -> HttpResponse:
    profile = Profile.objects.filter(user=user).first()
    context: dict[str, Any] = {
        "bio": bio,
        "bio_max": services.BIO_MAX_LENGTH,
        "avatar_id": profile.avatar_id if profile is not None else None,
        "choices": _public_photos_of(user)[:AVATAR_CHOICES],
        "max_upload_mb": settings.MAX_UPLOAD_BYTES / (1024 * 1024),
        "error": error,
    }
    return render(request, "web/profile_edit.html", context, status=status)


def _avatar(request: HttpRequest, user: User) -> int | bool | None:
    """What the form asks for: a new picture (stored as one of the person's public photos, since
    an avatar is always one), one of their public photos, none, or no change (False)."""
    upload = request.FILES.get("avatar_file")
    if upload is not None:
        data = upload.read(settings.MAX_UPLOAD_BYTES + 1)  # one byte more says "too large"
        try:
            photo = photo_services.upload_photo(owner=user, data=data, visibility=Visibility.PUBLIC)
        except photo_services.DuplicatePhoto as duplicate:
            photo = duplicate.existing  # already theirs: made the avatar if it is public
        return photo.pk
    chosen = request.POST.get("avatar", "")
    if chosen == "none":
        return None
    return int(chosen) if chosen.isdigit() else False


@login_required
def edit_profile(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    if request.method != "POST":
        profile = Profile.objects.filter(user=user).first()
        return _form(request, user, bio=profile.bio if profile is not None else "")
    bio = request.POST.get("bio", "")
    try:
        # The bio is checked before a picture is stored, and a refused picture undoes the bio:
        # either the whole form is saved, or nothing is and the form comes back as typed.
        with transaction.atomic():
            services.update_profile(user=user, bio=bio)
            services.update_profile(user=user, avatar=_avatar(request, user))
    except (services.CommentRejected, photo_services.PhotoRejected) as refused:
        return _form(request, user, bio=bio, error=str(refused), status=400)
    except photo_services.StorageFailed as failed:
        return _form(request, user, bio=bio, error=str(failed), status=503)
    messages.success(request, "Your profile is saved.")
    return redirect("web:profile", username=user.username)
