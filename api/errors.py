"""One error shape for every API failure: ``{"detail": "<sentence a person understands>"}``,
plus ``"errors"`` per field when the request failed validation."""

from typing import Any

from rest_framework import exceptions
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


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        errors = response.data
        response.data = {"detail": _first_message(errors), "errors": errors}
    return response
