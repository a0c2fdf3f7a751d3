"""The API fuzzed from its own OpenAPI schema (schemathesis + hypothesis): requests that fit the
schema and requests that break it, against the real application and database. Whatever comes
in, the answer is never a 5xx and never shows a traceback.

Bounded and repeatable: a fixed number of examples per operation and a derandomized (seeded)
run, so a failure found once is found again. ``FUZZ_EXAMPLES`` (per operation and mode) sets
how hard it tries: the default keeps this test to seconds; raise it by hand to dig deeper.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.throttling import ScopedRateThrottle
from schemathesis import GenerationMode

from api.accounts.services import token_for
from api.photos.services import upload_photo
from api.training.models import ModelVersion, TrainingRun
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))


@pytest.fixture
def one_connection() -> Iterator[None]:
    # A WSGI request closes "old" database connections when it ends; that would end the test's
    # transaction. Django's own test client switches this off the same way.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def generous_throttles(monkeypatch: pytest.MonkeyPatch) -> None:
    # Throttling is tested on its own; here a 429 would only hide the code behind it.
    for scope in ("login", "uploads", "comments"):
        monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, scope, "100000/min")


def seed_data(make_user: Callable[..., User]) -> dict[str, list[int]]:
    """Rows for generated ids to hit, so the fuzzer reaches past the 404s."""
    staff = make_user("fuzzer", staff=True)
    other = make_user("other")
    photos = [
        upload_photo(owner=staff, data=image_bytes(color=(1, 2, 3)), tag_names=["beach"]).pk,
        upload_photo(owner=other, data=image_bytes(color=(4, 5, 6)), visibility="private").pk,
        upload_photo(owner=other, data=image_bytes(color=(7, 8, 9)), tag_names=["sea"]).pk,
    ]
    run = TrainingRun.objects.create(trigger=TrainingRun.Trigger.API, status=TrainingRun.Status.FAILED)
    ModelVersion.objects.create(version=3, backbone="test")
    return {"id": photos, "pk": [run.pk], "version": [3], "name": []}


def with_ids(case: Any, chosen: dict[str, int]) -> Any:
    case.path_parameters = {**case.path_parameters, **chosen}
    return case


def check(response: Any, case: Any) -> None:
    where = f"{case.method} {case.formatted_path} {case.query or ''}"
    # Bytes, not text: a ZIP (an album's download, one's export) is no UTF-8.
    body = response.content.decode("utf-8", errors="replace")
    assert response.status_code < 500, f"{where}: {response.status_code} {body[:300]}"
    assert "Traceback" not in body, where


def test_fuzzing_the_api_from_its_schema_finds_no_server_error_and_no_traceback(
    make_user: Callable[..., User], one_connection: None, generous_throttles: None
) -> None:
    ids = seed_data(make_user)
    token = token_for(User.objects.get(username="fuzzer"))
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15, "the schema lists fewer operations than the API has"
    tried = {"requests": 0}

    for operation in operations:
        names = {parameter.name for parameter in operation.path_parameters}
        real = {name: st.sampled_from(ids[name]) for name in names if ids.get(name)}
        variants = [
            (GenerationMode.POSITIVE, operation.as_strategy(GenerationMode.POSITIVE)),
            (GenerationMode.NEGATIVE, operation.as_strategy(GenerationMode.NEGATIVE)),
        ]
        if real:
            # Existing rows (yours, someone's private photo, someone's public one) reach the code
            # behind the permission checks.
            variants.append(
                (
                    GenerationMode.POSITIVE,
                    st.builds(
                        with_ids, operation.as_strategy(GenerationMode.POSITIVE), st.fixed_dictionaries(real)
                    ),
                )
            )
        for mode, strategy in variants:

            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def fuzz(case: Any) -> None:
                tried["requests"] += 1
                check(case.call(headers={"Authorization": f"Token {token}"}), case)

            try:
                fuzz()
            except Unsatisfiable:
                # Nothing in this operation can be broken (no parameters, no body): fine.
                assert mode == GenerationMode.NEGATIVE, operation.label

    assert tried["requests"] >= len(operations) * 2
    print(f"fuzzed {len(operations)} operations with {tried['requests']} requests")
