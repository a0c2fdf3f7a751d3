"""Around every view: input no view can be trusted to handle is refused before it, and a database
that is down becomes HTTP 503 instead of a server error.

The site comes back by itself when the database does: Django connects per request and
health-checks a kept connection (``CONN_HEALTH_CHECKS``), so no process needs a restart."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)

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


DATABASE_DOWN = "The database is not answering right now. Please try again in a minute."
# Clients that honour it come back after this many seconds rather than hammering a restart.
RETRY_AFTER_SECONDS = 30


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # OperationalError: refused or dropped connections, a server shutting down; InterfaceError:
        # a connection closed under a running request.
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.error("database unavailable during %s %s: %s", request.method, request.path, exception)
        response: HttpResponse
        if request.path.startswith("/api/") or "html" not in request.headers.get("Accept", ""):
            response = JsonResponse({"detail": DATABASE_DOWN}, status=503)
        else:
            # Rendered without the request: the usual context (the signed-in user, messages) would
            # ask the database again.
            response = HttpResponse(
                render_to_string("web/unavailable.html", {"message": DATABASE_DOWN}), status=503
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
