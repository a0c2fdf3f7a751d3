from django.contrib.auth.models import User
from django.http import HttpRequest
from rest_framework.exceptions import NotAuthenticated


def signed_in_user(request: HttpRequest, *, to: str = "") -> User:
    """The request's user; for anyone else a 401 that says what signing in is for ("Sign in to
    comment."), or "Sign in first." where a permission check already limited the path."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise NotAuthenticated(f"Sign in to {to}." if to else "Sign in first.")
    return user
