"""What people say about photos: favourites and comments. Both are only ever shown to someone
who may see the photo (api/social/selectors.py)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from api.photos.models import Photo


class Favourite(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites")
    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="favourites")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "photo"], name="one_favourite_per_person")]
        indexes = [models.Index(fields=["user", "-id"], name="my_favourites_idx")]

    def __str__(self) -> str:
        return f"{self.user} likes photo {self.photo_id}"


class Comment(models.Model):
    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments")
    body = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["photo", "id"], name="photo_comments_idx")]

    def __str__(self) -> str:
        return f"comment {self.pk} by {self.author} on photo {self.photo_id}"


class Follow(models.Model):
    follower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="following")
    followee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="followers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_once"),
            models.CheckConstraint(condition=~models.Q(follower=models.F("followee")), name="no_self_follow"),
        ]

    def __str__(self) -> str:
        return f"{self.follower} follows {self.followee}"


class Profile(models.Model):
    """What a person says about themself: a bio, and one of their own public photos as avatar."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    bio = models.TextField(blank=True, max_length=500)
    avatar = models.ForeignKey(Photo, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"profile of {self.user}"
