from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from api.training import registry, runs
from api.training.models import ModelVersion, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("version", "status", "backbone", "reason", "created_at", "activated_at")
    list_filter = ("status",)
    actions = ["activate"]

    @admin.action(description="Activate (or roll back to) the selected version")
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        try:
            row = registry.activate_version(version=queryset.get().version)
        except registry.ActivationRefused as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.message_user(request, f"Version {row.version} is active; workers switch between batches.")


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "status",
        "trigger",
        "requested_by",
        "phase",
        "progress",
        "model_version",
        "created_at",
    )
    list_filter = ("status", "trigger")
    readonly_fields = [f.name for f in TrainingRun._meta.fields]
    actions = ["retrain_now"]

    @admin.action(description="Retrain now (starts a new run; select any run)")
    def retrain_now(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        try:
            run = runs.start_run(trigger=TrainingRun.Trigger.ADMIN, user=request.user)  # type: ignore[arg-type]
        except runs.RunInProgress as busy:
            self.message_user(request, str(busy), messages.WARNING)
            return
        self.message_user(request, f"Training run {run.pk} is queued.")
