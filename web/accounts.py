"""The account pages: e-mail, export, deletion, and the password reset (Django's views with our
templates, throttled like log-in). Log-in, sign-up and password change are in web/views.py."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_GET

from api.accounts import services
from api.accounts.deletion import delete_account
from api.accounts.reset import EMAIL_TEMPLATE, SUBJECT_TEMPLATE, ResetForm
from api.accounts.selectors import signed_in_user
from api.accounts.views import export_response
from web.account_forms import DeleteAccountForm, EmailForm
from web.views import _too_many_attempts


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """The account page: the e-mail address (set, change, remove), the export, the way out."""
    user = signed_in_user(request)
    form = EmailForm(request.POST or None, user=user, initial={"email": user.email})
    if request.method == "POST" and form.is_valid():
        services.set_email(user=user, email=form.cleaned_data["email"])
        messages.success(
            request, "Your e-mail address was saved." if user.email else "Your e-mail address was removed."
        )
        return redirect("web:account")
    return render(request, "web/account.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_GET
def export(request: HttpRequest) -> StreamingHttpResponse:
    return export_response(signed_in_user(request))


@login_required
def delete(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    form = DeleteAccountForm(request.POST or None, user=user)
    if request.method == "POST":
        # The password is checked here: without a limit this page would guess passwords too.
        if throttled := _too_many_attempts(request):
            return render(
                request, "web/account_delete.html", {"form": form, "throttled": throttled}, status=429
            )
        if form.is_valid():
            name = user.username
            logout(request)
            delete_account(user=user)
            messages.success(request, f"The account {name} and everything in it were deleted.")
            return redirect("web:feed")
        return render(request, "web/account_delete.html", {"form": form}, status=400)
    return render(request, "web/account_delete.html", {"form": form})


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "web/password_reset_form.html"
    form_class = ResetForm
    email_template_name = EMAIL_TEMPLATE
    subject_template_name = SUBJECT_TEMPLATE
    success_url = reverse_lazy("web:password-reset-done")

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if throttled := _too_many_attempts(request):
            return render(
                request, self.template_name, {"form": self.get_form(), "throttled": throttled}, status=429
            )
        return super().post(request, *args, **kwargs)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "web/password_reset_confirm.html"
    success_url = reverse_lazy("web:password-reset-complete")
