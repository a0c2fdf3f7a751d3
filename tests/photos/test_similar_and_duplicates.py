"""Similar photos and near-duplicates, computed from stored embeddings. The embeddings here are
written by hand (what the model would store is beside the point); the nearest-neighbour search,
its visibility rules and the near-duplicate links are what is tested."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client

from api.photos.models import Photo
from api.photos.services import upload_photo
from api.tagging import numpy_search, similarity
from api.tagging.models import PhotoEmbedding
from api.tagging.services import stored_embeddings
from api.tagging.similarity import flag_near_duplicates, similar_photos
from tests.helpers.clients import client_for
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db

_shade = iter(range(10, 250))


def photo_with_embedding(owner: User, vector: Sequence[float], visibility: str = "public") -> Photo:
    """A stored photo (distinct bytes each time) whose embedding points along ``vector``."""
    photo = upload_photo(
        owner=owner, data=image_bytes("PNG", (8, 8), (next(_shade), 0, 0)), visibility=visibility
    )
    PhotoEmbedding.objects.create(
        photo=photo, backbone="test-net", dim=len(vector), vector=np.asarray(vector, np.float16).tobytes()
    )
    return photo


def vectors_of(*photos: Photo) -> dict[int, np.ndarray]:
    """The photos' stored embeddings, as the worker hands them over after a batch."""
    return stored_embeddings([p.pk for p in photos], backbone="test-net")


@pytest.fixture(params=["pgvector", "numpy"], autouse=True)
def search_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every rule here holds on both searches: PostgreSQL's index and SQLite's brute force."""
    if request.param == "numpy":
        monkeypatch.setattr(similarity, "_search", lambda: numpy_search)
    return str(request.param)


@pytest.fixture
def scene(alice: User, bob: User) -> Callable[[], dict[str, Photo]]:
    def build() -> dict[str, Photo]:
        return {
            "query": photo_with_embedding(alice, [1, 0, 0, 0]),
            "closest": photo_with_embedding(bob, [0.95, 0.3, 0, 0]),
            "close": photo_with_embedding(alice, [0.8, 0.6, 0, 0]),
            "far": photo_with_embedding(bob, [0, 0, 1, 0]),
            "bobs_private": photo_with_embedding(bob, [0.99, 0.05, 0, 0], "private"),
            "bobs_unlisted": photo_with_embedding(bob, [0.98, 0.1, 0, 0], "unlisted"),
        }

    return build


def ids(photos: Sequence[Photo]) -> list[int]:
    return [p.pk for p in photos]


def test_similar_photos_come_nearest_first_without_the_photo_itself(
    scene: Callable[[], dict[str, Photo]], alice: User
) -> None:
    photos = scene()
    found = similar_photos(viewer=alice, photo=photos["query"], limit=3)
    assert ids(found) == [photos["closest"].pk, photos["close"].pk, photos["far"].pk]


def test_similar_photos_never_include_another_users_private_or_unlisted_photo(
    scene: Callable[[], dict[str, Photo]], alice: User, bob: User
) -> None:
    photos = scene()
    viewer: User | AnonymousUser
    for viewer in (alice, AnonymousUser()):
        found = ids(similar_photos(viewer=viewer, photo=photos["query"]))
        assert photos["bobs_private"].pk not in found and photos["bobs_unlisted"].pk not in found
    # Bob sees his own private photo as the nearest one.
    assert ids(similar_photos(viewer=bob, photo=photos["query"], limit=1)) == [photos["bobs_private"].pk]


def test_a_photo_made_private_drops_out_of_similar_results_at_once(
    scene: Callable[[], dict[str, Photo]], alice: User
) -> None:
    photos = scene()
    assert photos["closest"].pk in ids(similar_photos(viewer=alice, photo=photos["query"]))
    Photo.objects.filter(pk=photos["closest"].pk).update(visibility="private")
    assert photos["closest"].pk not in ids(similar_photos(viewer=alice, photo=photos["query"]))


def test_a_photo_the_model_has_not_seen_has_no_similar_photos(alice: User) -> None:
    pending = upload_photo(owner=alice, data=image_bytes("PNG", (8, 8), (1, 2, 3)))
    assert similar_photos(viewer=alice, photo=pending) == []


def test_the_similar_endpoint_answers_with_photos_and_guards_the_query_photo(
    scene: Callable[[], dict[str, Photo]], alice: User, carol: User
) -> None:
    photos = scene()
    response = client_for(carol).get(f"/api/photos/{photos['query'].pk}/similar/", {"limit": 2})
    assert response.status_code == 200
    assert [p["id"] for p in response.json()] == [photos["closest"].pk, photos["close"].pk]
    assert {"owner", "thumbnail_url", "tags"} <= set(response.json()[0])
    # Carol may not open Bob's private photo, so she may not ask what it looks like either.
    assert client_for(carol).get(f"/api/photos/{photos['bobs_private'].pk}/similar/").status_code == 404
    bad = client_for(carol).get(f"/api/photos/{photos['query'].pk}/similar/", {"limit": "500"})
    assert bad.status_code == 400 and "from 1 to 50" in bad.json()["detail"]


def test_the_photo_page_strip_shows_similar_photos_the_viewer_may_see(
    scene: Callable[[], dict[str, Photo]], carol: User
) -> None:
    photos = scene()
    client = Client()
    client.force_login(carol)
    html = client.get(f"/p/{photos['query'].pk}/similar/").content.decode()
    assert f'href="/p/{photos["closest"].pk}/"' in html
    assert f'href="/p/{photos["bobs_private"].pk}/"' not in html
    assert client.get(f"/p/{photos['bobs_private'].pk}/similar/").status_code == 404


def test_an_upload_nearly_identical_to_an_earlier_one_of_the_same_owner_is_linked_to_it(
    alice: User, bob: User
) -> None:
    first = photo_with_embedding(alice, [1, 0.2, 0, 0])
    other_owners = photo_with_embedding(bob, [1, 0.2, 0, 0.01])
    resaved = photo_with_embedding(alice, [1, 0.21, 0.01, 0])
    look_alike = photo_with_embedding(alice, [1, 0.9, 0.5, 0])
    links = flag_near_duplicates(vectors=vectors_of(other_owners, resaved, look_alike), backbone="test-net")
    assert links == {resaved.pk: first.pk}
    resaved.refresh_from_db()
    other_owners.refresh_from_db()
    assert resaved.near_duplicate_of_id == first.pk
    assert other_owners.near_duplicate_of_id is None  # Bob's copy is not Alice's duplicate.


def test_the_earlier_photo_is_never_flagged_as_a_copy_of_the_later_one(alice: User) -> None:
    first = photo_with_embedding(alice, [1, 0, 0, 0])
    second = photo_with_embedding(alice, [1, 0, 0, 0.001])
    assert flag_near_duplicates(vectors=vectors_of(first, second), backbone="test-net") == {
        second.pk: first.pk
    }


def test_the_owner_sees_the_near_duplicate_notice_and_others_do_not(alice: User, bob: User) -> None:
    first = photo_with_embedding(alice, [1, 0, 0, 0])
    copy = photo_with_embedding(alice, [1, 0.01, 0, 0])
    flag_near_duplicates(vectors=vectors_of(copy), backbone="test-net")
    owner = Client()
    owner.force_login(alice)
    assert f'nearly identical to <a href="/p/{first.pk}/">' in owner.get(f"/p/{copy.pk}/").content.decode()
    other = Client()
    other.force_login(bob)
    assert "nearly identical" not in other.get(f"/p/{copy.pk}/").content.decode()


def test_each_embedded_photo_records_its_nearest_other_photo_of_any_owner(alice: User, bob: User) -> None:
    first = photo_with_embedding(alice, [1, 0, 0, 0])
    bobs = photo_with_embedding(bob, [1, 0.05, 0, 0])
    far = photo_with_embedding(alice, [0, 0, 1, 0])
    flag_near_duplicates(vectors=vectors_of(first, bobs, far), backbone="test-net")
    rows = {
        e.photo_id: (e.nearest_photo_id, e.nearest_cosine)
        for e in PhotoEmbedding.objects.filter(backbone="test-net")
    }
    assert rows[first.pk][0] == bobs.pk and rows[bobs.pk][0] == first.pk
    assert rows[first.pk][1] == pytest.approx(0.9988, abs=1e-3)
    assert rows[far.pk][1] == pytest.approx(0.0, abs=1e-3)


def test_nearest_photos_are_recorded_a_chunk_at_a_time(
    alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(similarity, "RECORD_CHUNK", 2)
    photos = [photo_with_embedding(alice if n % 2 else bob, [1, n / 10, 0, 0]) for n in range(5)]
    near = similarity.record_nearest(vectors=vectors_of(*photos), space="test-net")
    assert set(near) == {p.pk for p in photos}
    stored = dict(
        PhotoEmbedding.objects.filter(backbone="test-net").values_list("photo_id", "nearest_photo_id")
    )
    # Each photo's nearest is its neighbour along the line: the next one, or for the last the one before.
    assert stored == {p.pk: photos[i + 1 if i + 1 < len(photos) else i - 1].pk for i, p in enumerate(photos)}
