"""One error shape for every API failure: ``{"detail": "<sentence a person understands>"}``,
plus ``"errors"`` per field when the request failed validation."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _first_message(errors: Any) -> str:
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _first_message(value)
            return message if field in {"non_field_errors", "detail"} else f"{field}: {message}"
        return "Invalid input."
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


def _refused_body(exc: Exception) -> Response | None:
    """Django's own body limits, raised while DRF parses: answered in the API's shape, not as
    the bare HTML "Bad Request" page Django would otherwise send."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
        return Response(
            {"detail": f"The request body is too large; fields other than files may total {limit:.0f} MB."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return Response({"detail": "The request has too many fields or files."}, status=400)
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    refused = _refused_body(exc)
    if refused is not None:
        return refused
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        errors = response.data
        response.data = {"detail": _first_message(errors), "errors": errors}
    return response


@contextmanager
def refusals_as_400(*refusals: type[Exception]) -> Iterator[None]:
    """A service's refusal (its message is written for the person) answered as a 400."""
    try:
        yield
    except refusals as error:
        raise exceptions.ValidationError({"detail": str(error)}) from None
