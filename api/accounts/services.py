"""Accounts: sign-up, e-mail addresses, tokens. Deletion and export have modules of their own
(``deletion.py``, ``export.py``)."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

EMAIL_MAX_LENGTH = 254  # User.email's column


class RegistrationRejected(ValueError):
    pass


class EmailRejected(ValueError):
    """An address that cannot be used; the message is shown to the person."""


def clean_email(email: str, *, user: User | None = None) -> str:
    """The address as stored: trimmed, its domain lowercased, or "" for none. An address belongs
    to one account at most, whatever its case: a reset link goes to one person."""
    email = email.strip()
    if not email:
        return ""
    if len(email) > EMAIL_MAX_LENGTH:
        raise EmailRejected(f"The e-mail address is longer than {EMAIL_MAX_LENGTH} characters.")
    try:
        validate_email(email)
    except ValidationError:
        raise EmailRejected(f"{email!r} is not an e-mail address.") from None
    email = User.objects.normalize_email(email)
    taken = User.objects.filter(email__iexact=email)
    if user is not None:
        taken = taken.exclude(pk=user.pk)
    if taken.exists():
        raise EmailRejected("This e-mail address belongs to another account.")
    return email


def register_user(*, username: str, password: str, email: str = "") -> User:
    username = username.strip()
    if User.objects.filter(username__iexact=username).exists():
        raise RegistrationRejected("This username is taken.")
    try:
        email = clean_email(email)
    except EmailRejected as error:
        raise RegistrationRejected(str(error)) from None
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


def set_email(*, user: User, email: str) -> User:
    """Set or change (or, with "", remove) the address password resets are sent to."""
    user.email = clean_email(email, user=user)
    user.save(update_fields=["email"])
    return user


def token_for(user: User) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return token.key
