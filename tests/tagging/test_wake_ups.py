"""Wake-ups: the database is the queue and a Celery message only wakes a worker, so one message
waiting in the queue is enough for any number of uploads; a worker that takes it makes room for
the next one. (The broker is beside the point here: messages are counted where they are sent.)"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import User

from api.celery import app
from api.photos.services import upload_photo
from api.tagging import services
from api.tagging.services import TAG_PENDING
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    messages: list[Any] = []
    monkeypatch.setattr(
        app, "send_task", lambda name, *a, **k: messages.append(k) if name == TAG_PENDING else None
    )
    return messages


def test_a_burst_of_uploads_sends_one_wake_up_while_it_waits_in_the_queue(
    alice: User, sent: list[Any]
) -> None:
    for shade in range(20):
        upload_photo(owner=alice, data=image_bytes("PNG", (8, 8), (shade, 0, 0)))
    assert len(sent) == 1


def test_once_a_worker_takes_the_wake_up_the_next_upload_sends_another(alice: User, sent: list[Any]) -> None:
    upload_photo(owner=alice, data=image_bytes("PNG", (8, 8), (1, 0, 0)))
    services.wake_up_taken()  # what tag_pending does before it claims
    upload_photo(owner=alice, data=image_bytes("PNG", (8, 8), (2, 0, 0)))
    upload_photo(owner=alice, data=image_bytes("PNG", (8, 8), (3, 0, 0)))
    assert len(sent) == 2


def test_a_wake_up_that_was_never_taken_counts_as_lost_after_a_while(
    alice: User, sent: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "WAKE_UP_QUEUED_SECONDS", 1)
    upload_photo(owner=alice, data=image_bytes("PNG", (8, 8), (1, 0, 0)))
    time.sleep(1.2)
    upload_photo(owner=alice, data=image_bytes("PNG", (8, 8), (2, 0, 0)))
    assert len(sent) == 2
