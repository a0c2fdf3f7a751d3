import os

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create or update the staff account named by ADMIN_USERNAME/ADMIN_PASSWORD, when both are set."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--keep-password",
            action="store_true",
            help="Set the password only when the account is created: one changed on the site stays.",
        )

    def handle(self, *args: object, **options: object) -> None:
        username = os.environ.get("ADMIN_USERNAME", "").strip()
        password = os.environ.get("ADMIN_PASSWORD", "")
        if not username or not password:
            return
        user, created = User.objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = True
        if created or not options.get("keep_password"):
            user.set_password(password)
        user.save()
        if int(options.get("verbosity", 1)) > 0:  # type: ignore[call-overload]
            self.stdout.write(f"{'Created' if created else 'Updated'} staff account {username!r}")
