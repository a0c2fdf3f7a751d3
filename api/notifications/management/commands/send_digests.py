"""``manage.py send_digests``: the e-mail digests now, as beat sends them every
NOTIFICATION_DIGEST_HOURS (for a site that runs no beat, or from cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from api.notifications.digest import send_digests


class Command(BaseCommand):
    help = "E-mails each person a digest of their unread notifications since their last one."

    def handle(self, *args: Any, **options: Any) -> None:
        sent = send_digests()
        self.stdout.write(f"Sent {sent} digest{'s' if sent != 1 else ''}.")
