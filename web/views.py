"""The website: server-rendered pages over the same services and selectors as the REST API."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_POST, require_safe
from rest_framework.throttling import ScopedRateThrottle

from api.accounts.selectors import signed_in_user
from api.photos import selectors, services
from api.photos.models import Photo, Visibility
from api.tagging.similarity import similar_photos
from api.tags import services as tag_services
from api.tags.models import PhotoTag, Vote
from api.tags.selectors import (
    search_tags,
)
from web.account_forms import SignUpForm
from web.photo_page import photo_context, photo_page_answer


def healthz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever a page's <link rel="icon"> says: each of those
    requests was a 404 in the log."""
    return redirect(static("web/favicon.svg"))


# ---------------------------------------------------------------- one photo


def photo_page(request: HttpRequest, pk: int) -> HttpResponse:
    photo = selectors.viewable_photo(request.user, pk, request.GET.get("s"))
    if photo is None:
        raise Http404("No photo with this id, or it is not shared with you.")
    return photo_page_answer(request, photo, request.GET.get("s"))


def photo_tags(request: HttpRequest, pk: int) -> HttpResponse:
    """The tag chips alone: the photo page polls this while the model is still tagging."""
    token = request.GET.get("s") or None
    photo = selectors.viewable_photo(request.user, pk, token)
    if photo is None:
        raise Http404("No photo with this id, or it is not shared with you.")
    return _chips(request, photo, token)


def photo_similar(request: HttpRequest, pk: int) -> HttpResponse:
    """The strip of similar photos under a photo, loaded after the page itself."""
    photo = selectors.viewable_photo(request.user, pk, request.GET.get("s"))
    if photo is None:
        raise Http404("No photo with this id, or it is not shared with you.")
    found = similar_photos(viewer=request.user, photo=photo, limit=SIMILAR_STRIP)
    context = {"photo": photo, "similar": found, "share_token": request.GET.get("s", "")}
    return render(request, "web/_similar.html", context)


SIMILAR_STRIP = 8


def shared_photo(request: HttpRequest, token: str) -> HttpResponse:
    photo = selectors.photo_by_share_token(token)
    if photo is None:
        raise Http404("This share link does not work (any more).")
    return photo_page_answer(request, photo, token)


def _owned_photo(request: HttpRequest, pk: int) -> Photo:
    photo = get_object_or_404(Photo, pk=pk)
    if not services.is_owner(request.user, photo):
        raise Http404("No photo of yours with this id.")
    return photo


@login_required
@require_POST
def edit_photo(request: HttpRequest, pk: int) -> HttpResponse:
    photo = _owned_photo(request, pk)
    show_location = request.POST.get("show_location")
    try:
        services.update_photo(
            photo=photo,
            caption=request.POST.get("caption", photo.caption),
            visibility=request.POST.get("visibility", photo.visibility),
            show_location=None if show_location is None else show_location == "1",
        )
        messages.success(request, "Saved.")
    except services.PhotoRejected as error:
        messages.error(request, str(error))
    return redirect("web:photo", pk=photo.pk)


@login_required
@require_POST
def delete_photo(request: HttpRequest, pk: int) -> HttpResponse:
    services.delete_photo(photo=_owned_photo(request, pk))
    messages.success(request, "The photo was deleted.")
    return redirect("web:profile", username=request.user.get_username())


# ---------------------------------------------------------------- tag chips (HTMX)


def _chips(
    request: HttpRequest, photo: Photo, share_token: str | None, error: str | None = None
) -> HttpResponse:
    context = photo_context(request, photo, share_token)
    context["tag_error"] = error
    # 200 even with an error: htmx swaps only successful answers, and the error is in the fragment.
    return render(request, "web/_tags.html", context)


def _tag_action(request: HttpRequest, pk: int, action: Any) -> HttpResponse:
    token = request.POST.get("s") or None
    photo = selectors.viewable_photo(request.user, pk, token)
    if photo is None:
        raise Http404("No photo with this id, or it is not shared with you.")
    try:
        action(photo)
    except (tag_services.TagRejected, tag_services.TagNotAllowed, PhotoTag.DoesNotExist) as error:
        return _chips(request, photo, token, error=str(error))
    return _chips(request, photo, token)


@login_required
@require_POST
def add_tag(request: HttpRequest, pk: int) -> HttpResponse:
    return _tag_action(
        request,
        pk,
        lambda photo: tag_services.add_tag(
            photo=photo, user=signed_in_user(request), name=request.POST.get("name", "")
        ),
    )


@login_required
@require_POST
def tag_vote(request: HttpRequest, pk: int, name: str, action: str) -> HttpResponse:
    if action == "remove":
        return _tag_action(
            request,
            pk,
            lambda photo: tag_services.remove_tag(photo=photo, user=signed_in_user(request), name=name),
        )
    if action not in {Vote.CONFIRM, Vote.REJECT}:
        raise Http404("Unknown tag action")
    return _tag_action(
        request,
        pk,
        lambda photo: tag_services.vote(photo=photo, user=signed_in_user(request), name=name, value=action),
    )


def tag_suggestions(request: HttpRequest) -> HttpResponse:
    """Autocomplete options for the add-tag box."""
    query = request.GET.get("name", "").strip()[:100]
    tags = search_tags(request.user, query, limit=10) if query else []
    return render(request, "web/_tag_options.html", {"tags": tags})


# ---------------------------------------------------------------- upload and accounts


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "web/upload.html",
        {"max_upload_mb": settings.MAX_UPLOAD_BYTES / (1024 * 1024), "visibilities": Visibility.choices},
    )


class _PerAddressThrottle(ScopedRateThrottle):
    """Counted per client address even when signed in: sign-up signs the new account in, so a
    per-user count would start afresh with every account made."""

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _too_many_attempts(request: HttpRequest) -> str | None:
    """Log-in and sign-up forms share the "login" rate with the API's token and register
    endpoints: guessing passwords and minting accounts cost the same, whichever door is used."""
    throttle = _PerAddressThrottle()
    if throttle.allow_request(request, SimpleNamespace(throttle_scope="login")):  # type: ignore[arg-type]
        return None
    return f"Too many attempts. Try again in {int(throttle.wait() or 60)} seconds."


def signup(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and (throttled := _too_many_attempts(request)):
        return render(request, "web/signup.html", {"form": form, "throttled": throttled}, status=429)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        messages.success(request, f"Welcome to Tagloop, {user.username}!")
        return redirect("web:feed")
    return render(request, "web/signup.html", {"form": form})


# Why a page sent someone to log in, said on the log-in page (a bare redirect said nothing).
LOGIN_REASONS = (
    ("/upload/", "Log in to upload photos."),
    ("/help/", "Log in to help the model."),
    ("/my/", "Log in to manage your photos."),
)


class ThrottledLoginView(auth_views.LoginView):
    template_name = "web/login.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        wanted = str(context.get("next") or "")
        if wanted:
            context["reason"] = next(
                (reason for prefix, reason in LOGIN_REASONS if wanted.startswith(prefix)),
                "Log in to see that page.",
            )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        throttled = _too_many_attempts(request)
        if throttled:
            return render(
                request, self.template_name, {"form": self.get_form(), "throttled": throttled}, status=429
            )
        return super().post(request, *args, **kwargs)
