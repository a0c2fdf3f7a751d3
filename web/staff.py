"""The staff dashboard: the active model and "Retrain now" with live progress and curves, model
versions with activate/roll back (after a confirmation), per-tag quality, and operations (backlog,
throughput, failed photos with retry, workers and their GPUs, the training schedule)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from api.accounts.selectors import signed_in_user
from api.tagging import backbone_switch, retag, suppression
from api.tagging import services as tagging_services
from api.tagging.selectors import (
    active_model_as_served,
    activity_chart,
    backlog,
    failed_photos,
    throughput,
    workers,
)
from api.training import registry, runs
from api.training.models import ModelVersion, TrainingRun
from api.training.selectors import (
    QUALITY_COLUMNS,
    BadSort,
    next_vocabulary,
    parse_quality_sort,
    per_tag_quality,
    schedule_status,
)
from web.charts import BLUE, GREEN, ORANGE, Series, line_chart

VERSIONS_SHOWN = 20
CLOSE_TAGS_SHOWN = 15
FAILED_SHOWN = 10
ACTIVITY_MINUTES = 60
# About the size each chart is shown at on a desktop screen (see the .charts rules in site.css).
RUN_CHART_SIZE = (290, 180)
ACTIVITY_CHART_SIZE = (360, 200)
# Column headers, long and (for phone screens) short.
QUALITY_LABELS = {"tag": ("Tag", "Tag"), "precision": ("Precision", "Prec."), "recall": ("Recall", "Rec."),
                  "f1": ("F1", "F1"), "support": ("Support", "Supp."), "threshold": ("Threshold", "Thr."),
                  "ap": ("AP", "AP")}  # fmt: skip


def _quality_sorted(
    view: Callable[[HttpRequest, str, bool], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Hands the view the per-tag table's ``?sort=`` as (column, descending); a sort it cannot
    follow is answered 400 with the choices, before the view does any work."""

    @wraps(view)
    def sorted_view(request: HttpRequest) -> HttpResponse:
        try:
            column, descending = parse_quality_sort(request.GET.get("sort"))
        except BadSort as error:
            return HttpResponseBadRequest(str(error))
        return view(request, column, descending)

    return sorted_view


@staff_member_required
@_quality_sorted
def dashboard(request: HttpRequest, column: str, descending: bool) -> HttpResponse:
    versions = list(ModelVersion.objects.all())
    active = next((v for v in versions if v.status == ModelVersion.Status.ACTIVE), None)
    tags, close = next_vocabulary()
    needed = settings.MIN_PHOTOS_PER_TAG
    operations = _operations_context()
    context = {
        "model": active_model_as_served(operations["everyone"]),
        "active": active,
        "versions": versions[:VERSIONS_SHOWN],
        "older_versions": max(0, len(versions) - VERSIONS_SHOWN),
        "vocabulary": tags,
        "close": [
            {"tag": tag, "photos": n, "needed": needed - n, "percent": round(100 * n / needed)}
            for tag, n in list(close.items())[:CLOSE_TAGS_SHOWN]
        ],
        "min_photos": needed,
        "suppressed": suppression.suppressed(),
        "suppress_rejections": settings.DAY_ZERO_SUPPRESS_REJECTIONS,
        "suppress_ratio": f"{settings.DAY_ZERO_SUPPRESS_RATIO:g}",
        **_run_context(TrainingRun.objects.select_related("requested_by").first()),
        **_quality_context(active, column, descending),
        **operations,
    }
    return render(request, "web/staff.html", context)


@staff_member_required
def run_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The run's progress alone: the dashboard polls it while the run is queued or running."""
    run = get_object_or_404(TrainingRun.objects.select_related("requested_by"), pk=pk)
    response = render(request, "web/_run.html", _run_context(run))
    if request.headers.get("HX-Request") and run.status not in TrainingRun.ACTIVE_STATES:
        # The run ended while the page watched it: reload, so the active model, the versions and
        # the per-tag table show what it did.
        response["HX-Refresh"] = "true"
    return response


@staff_member_required
@_quality_sorted
def quality(request: HttpRequest, column: str, descending: bool) -> HttpResponse:
    """The per-tag table alone, sorted as asked: the column headers fetch it."""
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    return render(request, "web/_staff_quality.html", _quality_context(active, column, descending))


@staff_member_required
def operations(request: HttpRequest) -> HttpResponse:
    """The operations panel alone: the dashboard refreshes it every few seconds."""
    return render(request, "web/_staff_ops.html", _operations_context())


@staff_member_required
@require_POST
def retrain(request: HttpRequest) -> HttpResponse:
    try:
        run = runs.start_run(trigger=TrainingRun.Trigger.DASHBOARD, user=signed_in_user(request))
        messages.success(request, f"Training run {run.pk} is queued.")
    except runs.RunInProgress as busy:
        messages.warning(request, f"{busy} Its progress is shown below.")
    return redirect("web:staff")


@staff_member_required
@require_http_methods(["GET", "POST"])
def activate(request: HttpRequest, version: int) -> HttpResponse:
    """GET asks for confirmation (what changes, and the gate's word on the version); POST does it."""
    target = get_object_or_404(ModelVersion, version=version)
    if request.method == "GET":
        active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
        rollback = active is not None and target.version < active.version
        return render(
            request, "web/staff_activate.html", {"target": target, "active": active, "rollback": rollback}
        )
    try:
        registry.activate_version(version=version)
        messages.success(request, f"Version {version} is active; workers switch between batches.")
    except registry.ActivationRefused as error:
        messages.error(request, str(error))
    return redirect("web:staff")


@staff_member_required
@require_POST
def retry_failed(request: HttpRequest) -> HttpResponse:
    """Failed photos back to the tagging queue: one (``photo``) or all of them."""
    raw = request.POST.get("photo", "").strip()
    if raw and not raw.isdigit():
        return HttpResponseBadRequest(f"{raw!r} is not a photo id; send a number, or nothing to retry all.")
    retried = tagging_services.retry_failed_photos(
        user=signed_in_user(request), photo_ids=[int(raw)] if raw else None
    )
    if retried:
        messages.success(
            request, f"{retried} photo{'s' if retried != 1 else ''} went back to the tagging queue."
        )
    else:
        messages.info(request, "Nothing to retry: no such failed photo (any more).")
    return redirect(reverse("web:staff") + "#operations")


# ---------------------------------------------------------------- what the panels show


def _run_context(run: TrainingRun | None) -> dict[str, Any]:
    if run is None:
        return {"run": None}
    curves = run.curves or []
    running = run.status in TrainingRun.ACTIVE_STATES
    # While it trains the x axis spans every epoch it may run, so the lines grow towards the end.
    last = run.total_epochs if running and run.total_epochs else max(len(curves), 1)
    common: dict[str, Any] = {
        "x_domain": (1, max(last, 2)),
        "x_format": lambda epoch: f"epoch {epoch:.0f}",
        "value_format": lambda value: f"{value:.3g}",
        "empty": "Waiting for the first epoch",
        "width": RUN_CHART_SIZE[0],
        "height": RUN_CHART_SIZE[1],
    }

    def points(key: str) -> list[tuple[float, float]]:
        return [(c["epoch"], c[key]) for c in curves if c.get(key) is not None]

    return {
        "run": run,
        "loss_chart": line_chart([Series("loss", points("loss"), ORANGE, fill=True)], title="Training loss",
                                 y_min=0, **common),
        "map_chart": line_chart([Series("mAP", points("map"), BLUE),
                                 Series("macro F1", points("macro_f1"), GREEN)],
                                title="Validation", y_min=0, **common),
    }  # fmt: skip


def _quality_context(active: ModelVersion | None, column: str, descending: bool) -> dict[str, Any]:
    headers = []
    for key in QUALITY_COLUMNS:
        current = key == column
        # A click on the sorted column flips it; a new column starts where the interesting end is.
        first_descending = key != "tag"
        next_descending = not descending if current else first_descending
        headers.append(
            {
                "key": key,
                "label": QUALITY_LABELS[key][0],
                "short": QUALITY_LABELS[key][1],
                "sort": f"{'-' if next_descending else ''}{key}",
                "aria": ("descending" if descending else "ascending") if current else "none",
            }
        )
    return {
        "quality_version": active,
        "quality_rows": per_tag_quality(active, column=column, descending=descending),
        "quality_headers": headers,
    }


def _operations_context() -> dict[str, Any]:
    progress = retag.progress()
    counts = backlog(tagging_services.active_version(), progress)
    per_minute = activity_chart(minutes=ACTIVITY_MINUTES)
    offset = ACTIVITY_MINUTES - 1
    chart = line_chart(
        [
            Series(
                "uploaded",
                [(i - offset, n) for i, n in enumerate(per_minute["uploaded"])],
                ORANGE,
                legend=f"uploaded ({sum(per_minute['uploaded'])})",
            ),
            Series(
                "tagged",
                [(i - offset, n) for i, n in enumerate(per_minute["tagged"])],
                BLUE,
                fill=True,
                legend=f"tagged ({sum(per_minute['tagged'])})",
            ),
        ],
        title="Photos per minute",
        x_domain=(-offset, 0),
        width=ACTIVITY_CHART_SIZE[0],
        height=ACTIVITY_CHART_SIZE[1],
        x_format=lambda m: "last minute" if m == 0 else f"{-m + 1:.0f} min ago",
    )
    everyone = workers()
    day_ago = timezone.now() - timedelta(days=1)
    gone = [w for w in everyone if not w["alive"] and w["last_seen"] >= day_ago]
    schedule = schedule_status()
    return {
        "backlog": counts,
        "retag": progress,
        "switch": backbone_switch.status(),
        "switch_at": f"{settings.TRAIN_SWITCH_COVERAGE:.0%}",
        # The same rolling windows as /api/system/ (the chart counts whole minutes).
        "throughput": throughput(),
        "activity_chart": chart,
        "failed": failed_photos(limit=FAILED_SHOWN),
        "everyone": everyone,
        "workers": [w for w in everyone if w["alive"]] + sorted(gone, key=lambda w: w["last_seen"])[-5:],
        "schedule": schedule,
        "schedule_every": _duration(schedule.every) if schedule.every else "",
        "min_new_labels": settings.TRAIN_MIN_NEW_LABELS,
    }


def _duration(span: timedelta) -> str:
    seconds = round(span.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"
