import secrets

from django.conf import settings
from django.db import models


def new_share_token() -> str:
    # 128 bits of randomness: an unlisted photo cannot be found by guessing.
    return secrets.token_urlsafe(16)


class Photo(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="photos")
    # The original is stored once per content hash; several rows may share it.
    content_hash = models.CharField(max_length=64, db_index=True)
    file_ext = models.CharField(max_length=8)
    mime_type = models.CharField(max_length=32)
    byte_size = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    taken_at = models.DateTimeField(null=True, blank=True)
    caption = models.TextField(blank=True, max_length=2000)

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public"
        UNLISTED = "unlisted", "Unlisted (share link)"
        PRIVATE = "private", "Private"

    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    share_token = models.CharField(max_length=32, unique=True, default=new_share_token)

    class TaggingStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        TAGGED = "tagged", "Tagged"
        FAILED = "failed", "Failed"

    status = models.CharField(
        max_length=10, choices=TaggingStatus.choices, default=TaggingStatus.PENDING, db_index=True
    )
    status_reason = models.TextField(blank=True)
    model_version = models.IntegerField(null=True, blank=True)
    # A worker's claim on the photo while it tags it; a stale claim means the worker died.
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    tagged_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Where the photo was taken (EXIF GPS). Only the owner sees it unless they choose to show it.
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    show_location = models.BooleanField(default=False)
    # Set when the worker finds this photo nearly identical to one the same owner already has.
    near_duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["visibility", "-id"], name="photo_feed_idx"),
            models.Index(fields=["status", "claimed_at"], name="photo_work_idx"),
            # Re-tag claims and their counts (api.tagging.services.retag_due): photos of other
            # model versions that nobody holds, by version and newest first.
            models.Index(
                fields=["model_version", "id"],
                condition=models.Q(status="tagged", claimed_at__isnull=True),
                name="photo_retag_idx",
            ),
        ]

    def __str__(self) -> str:
        # No caption: the admin lists photos by this in its choosers, private ones included.
        return f"Photo {self.pk} by {self.owner.username}"


class ActivityMinute(models.Model):
    """Photos uploaded and photos tagged (re-tags included) in one minute, counted as it happens
    (``api.photos.activity``): the staff dashboard reads an hour as 60 rows, where counting the
    photos themselves read every photo a full re-tag touched that hour (483 ms at 1M)."""

    minute = models.DateTimeField(primary_key=True)
    uploaded = models.PositiveIntegerField(default=0)
    tagged = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M}: {self.uploaded} uploaded, {self.tagged} tagged"


# The names the rest of the code imports.
Visibility = Photo.Visibility
TaggingStatus = Photo.TaggingStatus
