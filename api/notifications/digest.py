"""The e-mail digest: each person with an e-mail address gets one mail listing their unread
notifications since the last digest (beat, every NOTIFICATION_DIGEST_HOURS; or
``manage.py send_digests``).

Never twice: a person's ``Digest`` row records the newest notification a digest covered, and a
digest takes only newer ones. The row is locked while the mail goes and moves on only once it
went, so two runs at once send one mail, and a mail server that refuses leaves the notifications
for the next run."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from api.notifications.models import Digest, Notification

log = logging.getLogger(__name__)

SEND_DIGESTS = "api.notifications.tasks.send_digests"  # the task's registered name
DIGEST_MAX_ITEMS = 20  # listed in the mail; the rest are counted


def _unread_after(recipient: User, last_id: int) -> list[Notification]:
    unread = Notification.objects.filter(recipient=recipient, read_at__isnull=True, pk__gt=last_id)
    return list(unread.select_related("actor").order_by("id"))


def _line(item: Notification) -> str:
    text = f"- {item.actor.username} {item.get_kind_display()}"
    return f"{text}: {item.detail}" if item.detail else text


def digest_text(recipient: User, items: list[Notification]) -> tuple[str, str]:
    """The subject and the body: plain text, so nothing a person typed can act as markup."""
    count = len(items)
    subject = f"Tagloop: {count} new notification{'s' if count != 1 else ''}"
    lines = [_line(item) for item in items[:DIGEST_MAX_ITEMS]]
    if count > DIGEST_MAX_ITEMS:
        lines.append(f"… and {count - DIGEST_MAX_ITEMS} more.")
    page = reverse("web:notifications")
    body = "\n".join(
        [f"Hello {recipient.username},", "", *lines, "", f"See them all on Tagloop's {page} page.", ""]
    )
    return subject, body


def send_digest(recipient: User) -> bool:
    """One person's digest, if they have anything new; whether a mail went."""
    with transaction.atomic():
        mark, _ = Digest.objects.get_or_create(recipient=recipient)
        mark = Digest.objects.select_for_update().get(pk=mark.pk)
        items = _unread_after(recipient, mark.last_notification_id)
        if not items:
            return False
        subject, body = digest_text(recipient, items)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient.email])
        mark.last_notification_id = items[-1].pk
        mark.sent_at = timezone.now()
        mark.save(update_fields=["last_notification_id", "sent_at"])
    return True


def send_digests() -> int:
    """Every person with an e-mail address and an unread notification gets their digest; how
    many mails went. One person's failing mail server does not stop the others'."""
    waiting = Notification.objects.filter(recipient=OuterRef("pk"), read_at__isnull=True)
    people = User.objects.filter(is_active=True).exclude(email="").filter(Exists(waiting)).order_by("pk")
    sent = 0
    for person in people:
        try:
            sent += send_digest(person)
        except OSError:  # smtplib's errors are OSErrors: refused, unreachable, timed out
            log.exception("could not send the digest of %s; the next run tries again", person.username)
    return sent
