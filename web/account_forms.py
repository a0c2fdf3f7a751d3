"""The website's account forms; the rules themselves are api/accounts/services.py's."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User

from api.accounts import services


def _checked_email(form: forms.BaseForm, user: User | None) -> str:
    try:
        return services.clean_email(form.cleaned_data.get("email", ""), user=user)
    except services.EmailRejected as error:
        raise forms.ValidationError(str(error)) from None


class SignUpForm(UserCreationForm):
    email = forms.CharField(
        label="E-mail (optional)",
        required=False,
        max_length=services.EMAIL_MAX_LENGTH,
        help_text="Only needed to reset a forgotten password; never shown to anyone.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def clean_email(self) -> str:
        return _checked_email(self, None)


class EmailForm(forms.Form):
    email = forms.CharField(
        label="E-mail",
        required=False,
        max_length=services.EMAIL_MAX_LENGTH,
        help_text="Where a password reset link goes. Leave empty to remove it.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_email(self) -> str:
        return _checked_email(self, self.user)


class DeleteAccountForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = str(self.cleaned_data.get("password", ""))
        if not self.user.check_password(password):
            raise forms.ValidationError("The password is wrong.")
        return password
