"""Password reset by e-mail, through Django's token views. Django's form already says the same
whether or not an address is known; this one also sends one account at most one link per
``RESET_EMAIL_INTERVAL``, so the form (throttled per client address like log-in) cannot be
turned into a way to flood someone's inbox from many addresses."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.models import User
from django.core.cache import cache
from django.http import HttpRequest

RESET_EMAIL_INTERVAL = 5 * 60  # seconds; a link stays valid for days (PASSWORD_RESET_TIMEOUT)
SUBJECT_TEMPLATE = "web/password_reset_subject.txt"
EMAIL_TEMPLATE = "web/password_reset_email.txt"


class ResetForm(PasswordResetForm):
    def get_users(self, email: str) -> Iterator[User]:
        for user in super().get_users(email):
            # add() is atomic in the cache: two requests at once send one e-mail.
            if cache.add(f"password-reset-sent:{user.pk}", 1, timeout=RESET_EMAIL_INTERVAL):
                yield user


def send_reset_link(request: HttpRequest, email: str) -> None:
    """E-mail a reset link to the account with this address, if there is one (and it has not
    had one in the last few minutes); says nothing either way."""
    form = ResetForm(data={"email": email})
    if form.is_valid():
        form.save(
            request=request,
            use_https=request.is_secure(),
            subject_template_name=SUBJECT_TEMPLATE,
            email_template_name=EMAIL_TEMPLATE,
        )
