"""Notifications on the website: one's own, newest first, with a link to what happened, and
"mark all read". The header's unread badge comes from web/context_processors.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from api.accounts.selectors import signed_in_user
from api.notifications import selectors, services
from web.galleries import keyset_page


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    page, next_url = keyset_page(request, selectors.notifications_for(signed_in_user(request)))
    context = {"notifications": page, "next_url": next_url}
    if request.headers.get("HX-Request") and request.GET.get("before"):
        return render(request, "web/_notification_page.html", context)
    return render(request, "web/notifications.html", context)


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    changed = services.mark_read(recipient=signed_in_user(request))
    messages.success(request, f"Marked {changed} notification{'s' if changed != 1 else ''} read.")
    return redirect("web:notifications")
