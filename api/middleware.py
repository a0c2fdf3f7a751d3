"""Request checks that come before any view, for input no view can be trusted to handle."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

NUL_MESSAGE = "The request contains a NUL character (%00), which is never valid here."


def _has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path:
        return True
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return True
    if "\x00" in request.META.get("HTTP_AUTHORIZATION", ""):
        return True
    return any("\x00" in value for value in request.COOKIES.values())


def reject_nul_characters(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[..., HttpResponse]:
    """PostgreSQL refuses NUL in text, so a ``%00`` reaching a query (a username in a URL, a
    search box, a token or session cookie) would be a 500. Form and JSON fields are checked by
    their serializers and forms; the path, query string, token and cookies are checked here."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": NUL_MESSAGE}, status=400)
            return HttpResponseBadRequest(NUL_MESSAGE, content_type="text/plain; charset=utf-8")
        return get_response(request)

    return middleware
