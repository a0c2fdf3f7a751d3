"""What happened that a person should hear about: someone commented on or favourited their photo,
tagged it or voted on its tags, shared an album with them, or followed them."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from api.albums.models import Album
from api.photos.models import Photo


class Notification(models.Model):
    class Kind(models.TextChoices):
        COMMENT = "comment", "commented on your photo"
        FAVOURITE = "favourite", "added your photo to their favourites"
        TAG = "tag", "tagged your photo"
        VOTE = "vote", "voted on a tag of your photo"
        ALBUM = "album", "shared an album with you"
        FOLLOWER = "follower", "started following you"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    photo = models.ForeignKey(Photo, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    album = models.ForeignKey(Album, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    detail = models.CharField(max_length=200, blank=True)  # the tag, or the comment's first words
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["recipient", "read_at", "-id"], name="my_notifications_idx")]

    def __str__(self) -> str:
        return f"{self.actor} {self.get_kind_display()} (to {self.recipient})"


Kind = Notification.Kind


class Digest(models.Model):
    """The truth about a person's e-mail digests: the newest notification the last one covered.
    A digest takes only unread notifications newer than it, so none is mailed twice."""

    recipient = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_notification_id = models.BigIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"digest of {self.recipient} up to notification {self.last_notification_id}"
