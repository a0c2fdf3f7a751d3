from django.conf import settings
from django.db import models
from django.db.models import Q


class ModelVersion(models.Model):
    """One published bundle, as the registry knows it; the files under shared_fs/models/ are the
    weights, this row is their story (metrics, the gate's reason, status)."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        REJECTED = "rejected", "Rejected"
        RETIRED = "retired", "Retired"

    version = models.IntegerField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CANDIDATE, db_index=True)
    backbone = models.CharField(max_length=100)
    tags = models.JSONField(default=list)
    metrics = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    dataset_fingerprint = models.CharField(max_length=64, blank=True)
    parent_version = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"v{self.version} ({self.status})"


class TrainingRun(models.Model):
    """The truth about one training run: claimed atomically, progress written as it goes. The web
    UI reads this row, never Celery internals."""

    # Labels Django derives from the names are left to it; only the ones it would get wrong are spelt.
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        REJECTED = "rejected", "Rejected by the gate"
        SKIPPED = "skipped"
        FAILED = "failed"

    ACTIVE_STATES = (Status.QUEUED, Status.RUNNING)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        API = "api", "API"
        DASHBOARD = "dashboard"
        ADMIN = "admin", "Django admin"
        COMMAND = "command", "Management command"

    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    phase = models.CharField(max_length=100, blank=True)
    epoch = models.PositiveIntegerField(default=0)
    total_epochs = models.PositiveIntegerField(default=0)
    progress = models.FloatField(default=0.0)
    curves = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    dataset_fingerprint = models.CharField(max_length=64, blank=True)
    model_version = models.IntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Always "training": with the partial unique index below, at most one run is queued or running.
    slot = models.CharField(max_length=8, default="training", editable=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["slot"], condition=Q(status__in=["queued", "running"]), name="one_active_training_run"
            )
        ]

    def __str__(self) -> str:
        return f"Training run {self.pk} ({self.status})"
