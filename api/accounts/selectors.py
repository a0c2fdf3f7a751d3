from django.contrib.auth.models import User
from django.http import HttpRequest
from rest_framework.exceptions import NotAuthenticated


def signed_in_user(request: HttpRequest) -> User:
    """The request's user, for code paths that a permission check already limited to members."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise NotAuthenticated("Sign in first.")
    return user
