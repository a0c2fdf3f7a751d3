"""The staff dashboard: retrain now with live progress, model versions with activate/roll back."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from api.accounts.selectors import signed_in_user
from api.tagging.selectors import active_model, backlog
from api.training import services
from api.training.labels import collect_labels, vocabulary
from api.training.models import ModelVersion, TrainingRun


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    versions = services.sync_versions()
    model = active_model()
    tags, close = vocabulary(collect_labels().labels)
    return render(
        request,
        "web/staff.html",
        {
            "model": model,
            "backlog": backlog(model["version"]),
            "versions": versions,
            "run": TrainingRun.objects.select_related("requested_by").first(),
            "vocabulary": tags,
            "close": list(close.items())[:20],
        },
    )


@staff_member_required
def run_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The run's progress alone: the dashboard polls it while the run is queued or running."""
    return render(request, "web/_run.html", {"run": get_object_or_404(TrainingRun, pk=pk)})


@staff_member_required
@require_POST
def retrain(request: HttpRequest) -> HttpResponse:
    try:
        run = services.start_run(trigger=TrainingRun.Trigger.DASHBOARD, user=signed_in_user(request))
        messages.success(request, f"Training run {run.pk} is queued.")
    except services.RunInProgress as busy:
        messages.warning(request, f"{busy} Its progress is shown below.")
    return redirect("web:staff")


@staff_member_required
@require_POST
def activate(request: HttpRequest, version: int) -> HttpResponse:
    get_object_or_404(ModelVersion, version=version)
    try:
        services.activate_version(version=version)
        messages.success(request, f"Version {version} is active; workers switch between batches.")
    except services.ActivationRefused as error:
        messages.error(request, str(error))
    return redirect("web:staff")
