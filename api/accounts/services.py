from __future__ import annotations

from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token


class RegistrationRejected(ValueError):
    pass


def register_user(*, username: str, password: str, email: str = "") -> User:
    username = username.strip()
    if User.objects.filter(username__iexact=username).exists():
        raise RegistrationRejected("This username is taken.")
    candidate = User(username=username, email=email)
    try:
        password_validation.validate_password(password, user=candidate)
    except ValidationError as error:
        raise RegistrationRejected(" ".join(error.messages)) from None
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=password, email=email)
    except IntegrityError:
        raise RegistrationRejected("This username is taken.") from None
    return user


def token_for(user: User) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return token.key
