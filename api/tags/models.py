from django.conf import settings
from django.db import models

from api.photos.models import Photo


class Tag(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PhotoTag(models.Model):
    """A tag on a photo with its provenance. Model and person tags share this table but never
    blur: ``source`` says who proposed it and ``state`` what people made of it, so the trainer
    can learn only from what people vouched for (docs/architecture.md, 'Data model and the
    provenance of tags')."""

    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="photo_tags")
    tag = models.ForeignKey(Tag, on_delete=models.PROTECT, related_name="photo_tags")

    class TagSource(models.TextChoices):
        USER = "user", "A person"
        MODEL = "model", "The model"

    source = models.CharField(max_length=8, choices=TagSource.choices)

    class TagState(models.TextChoices):
        SUGGESTED = "suggested", "Suggested"
        CONFIRMED = "confirmed", "Confirmed"
        REJECTED = "rejected", "Rejected"

    state = models.CharField(max_length=10, choices=TagState.choices, db_index=True)
    score = models.FloatField(null=True, blank=True)
    model_version = models.IntegerField(null=True, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["photo", "tag"], name="one_tag_per_photo")]
        indexes = [
            # 'Help the model' walks the open suggestions least confident first and stops at a
            # page: without this it sorted every open suggestion on each visit.
            models.Index(
                fields=["score", "id"],
                condition=models.Q(source="model", state="suggested"),
                name="open_suggestions_by_score",
            ),
            # The schedule's "new vouched-for labels since the last run" (api.training.runs).
            models.Index(
                fields=["updated_at"],
                condition=models.Q(state__in=["confirmed", "rejected"]),
                name="decided_tags_by_time",
            ),
        ]
        ordering = ["tag__name"]

    def __str__(self) -> str:
        return f"{self.tag.name} on {self.photo_id} ({self.source}, {self.state})"


class TagVote(models.Model):
    """One person's word on one tag of one photo; a second vote replaces the first."""

    photo_tag = models.ForeignKey(PhotoTag, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tag_votes")

    class Vote(models.TextChoices):
        CONFIRM = "confirm", "Confirm"
        REJECT = "reject", "Reject"

    value = models.CharField(max_length=8, choices=Vote.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["photo_tag", "user"], name="one_vote_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.value}s {self.photo_tag_id}"


# The names the rest of the code imports.
TagSource = PhotoTag.TagSource
TagState = PhotoTag.TagState
Vote = TagVote.Vote
