from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce

from api.photos.models import Photo


class Tag(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def search_standing(via: str = "") -> models.Case:
    """How far people vouched for a tag on a photo, as a tag search ranks it: 0 confirmed, 1
    suggested by a person, 2 a model's suggestion. ``via`` reaches the tag from another model
    ("photo_tags__"). The index ``tag_search_order`` is built on the same expression, and must
    stay the same to the letter for PostgreSQL to use it. (The states are spelt out: the choices
    below are not defined yet when the index is.)"""
    return models.Case(
        models.When(**{f"{via}state": "confirmed"}, then=models.Value(0)),
        models.When(**{f"{via}source": "user"}, then=models.Value(1)),
        default=models.Value(2),
    )


def search_confidence(via: str = "") -> models.Case:
    """A model suggestion's score, which a tag search ranks its photos by (one without a score,
    none is written so, counts as the least confident); 1.0 for every other tag."""
    return models.Case(
        models.When(
            **{f"{via}source": "model", f"{via}state": "suggested"},
            then=Coalesce(f"{via}score", models.Value(0.0)),
        ),
        default=models.Value(1.0),
        output_field=models.FloatField(),
    )


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
            # What people added since the background counts (api.tags.selectors): a short range.
            models.Index(
                fields=["updated_at"], condition=models.Q(source="user"), name="people_tags_by_time"
            ),
            # A tag page (one tag, no words) reads its first photos in the order it shows them,
            # and stops at a page, instead of ranking every photo of the tag on each visit.
            models.Index(
                models.F("tag"),
                search_standing(),
                search_confidence().desc(),
                models.F("photo").desc(),
                condition=models.Q(state__in=["suggested", "confirmed"]),
                name="tag_search_order",
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
        # A person's votes since the background count of their contributions (api.tags.selectors).
        indexes = [models.Index(fields=["user", "created_at"], name="votes_by_person_and_time")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.value}s {self.photo_tag_id}"


class TagCount(models.Model):
    """What is counted about each tag in the background (``api.tags.counts.refresh``, a beat task)
    so that reads take one row per tag instead of counting every photo of it: how many public
    photos carry it live (autocomplete, the tag list; a viewer's own photos are counted live on
    top, in ``api.tags.selectors``), and how often people confirmed and rejected the model's
    suggestions of it (the day-zero suppression rule, ``api.tagging.suppression``). Rewritten as a
    whole on each refresh, as of ``refreshed_at``; a tag with nothing to count has no row."""

    tag = models.OneToOneField(Tag, primary_key=True, on_delete=models.CASCADE, related_name="counts")
    public_photos = models.PositiveIntegerField()
    model_confirmed = models.PositiveIntegerField()
    model_rejected = models.PositiveIntegerField()
    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.tag_id}: {self.public_photos} public photos"


class OwnerTagCount(models.Model):
    """The live tags of one large library, counted with ``TagCount`` in the background: for each
    owner with at least ``api.tags.counts.OWNER_COUNTS_FROM`` photos, how many of their public
    photos carry each tag and how many of their unlisted and private ones. Autocomplete reads
    these for the owner, where counting their library live grew with it (207 ms for an owner of
    50,000 photos); what changed since ``refreshed_at`` is added live (``api.tags.selectors``).
    Only the owner's own autocomplete reads them: they count private photos."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")
    public_photos = models.PositiveIntegerField()
    other_photos = models.PositiveIntegerField()
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "tag"], name="one_count_per_owner_and_tag")]

    def __str__(self) -> str:
        return f"{self.owner_id}'s {self.tag_id}: {self.public_photos} public, {self.other_photos} other"


class ContributionCount(models.Model):
    """How many tags a person added, confirmed or rejected (``api.tags.selectors.contributions``),
    counted in the background with the tag counts: the help page showed it counted live, which
    grew with the person's votes (70 ms for 17,000). What they did since ``refreshed_at`` is
    added live."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE,
                                related_name="+")  # fmt: skip
    contributions = models.PositiveIntegerField()
    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.user_id}: {self.contributions} contributions"


# The names the rest of the code imports.
TagSource = PhotoTag.TagSource
TagState = PhotoTag.TagState
Vote = TagVote.Vote
# A tag that still describes its photo: what counts and searches go by.
LIVE_STATES = (TagState.SUGGESTED, TagState.CONFIRMED)
