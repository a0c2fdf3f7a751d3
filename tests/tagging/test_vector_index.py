"""PostgreSQL's HNSW index over embeddings (pgvector), at the backbone's real size (1,280
numbers): the queries use the index, agree with exact search, and filter visibility inside the
index scan. Photos are rows without files: their pixels are beside the point here."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from api.photos.models import Photo
from api.tagging import numpy_search, vector_search
from api.tagging.models import PhotoEmbedding
from api.tagging.services import store_embeddings
from api.tagging.similarity import flag_near_duplicates, similar_photos
from api.tagging.vectors import INDEXED_DIMS

pytestmark = pytest.mark.django_db
SPACE = "efficientnet_lite0"
DIM = 1280


def library(owners: list[tuple[User, str]], vectors: np.ndarray) -> list[int]:
    """One photo per vector, owned and shared as ``owners`` says (cycled), embedded in SPACE."""
    photos = Photo.objects.bulk_create(
        Photo(
            owner=owners[i % len(owners)][0], visibility=owners[i % len(owners)][1],
            content_hash=f"{i:064x}", file_ext="jpg", mime_type="image/jpeg", byte_size=1,
            width=1, height=1, status=Photo.TaggingStatus.TAGGED,
        )
        for i in range(len(vectors))
    )  # fmt: skip
    ids = [p.pk for p in photos]
    store_embeddings(vectors=dict(zip(ids, vectors.astype(np.float16), strict=True)), backbone=SPACE)
    return ids


def settled() -> None:
    """For the rest of the test: the index rebuilt from this test's rows, and the planner told to
    use it. Earlier tests of the session rolled back rows whose entries stay in the HNSW graph
    until a vacuum, which a test never sees (in CI they cost recall); and on a table this small
    the planner rightly prefers to scan and sort, which would test exact search instead."""
    with connection.cursor() as cursor:
        cursor.execute("REINDEX INDEX embedding_vec_1280")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")


def clustered(n: int, seed: int = 0) -> np.ndarray:
    """Vectors in 20 loose clusters, as a photo library's embeddings are."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, DIM))
    return centres[rng.integers(0, 20, n)] + 0.8 * rng.normal(size=(n, DIM))


def exact_nearest(vectors: np.ndarray, ids: list[int], query: int, allowed: set[int], k: int) -> list[int]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = unit @ unit[ids.index(query)]
    ranked = [ids[i] for i in np.argsort(-scores) if ids[i] != query and ids[i] in allowed]
    return ranked[:k]


def explained(sql: str) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_every_backbone_dimension_has_an_index() -> None:
    from trainer.backbones import REGISTRY

    assert {b.embedding_dim for b in REGISTRY.values()} <= set(INDEXED_DIMS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'embedding_vec_%%'")
        assert {row[0] for row in cursor.fetchall()} == {f"embedding_vec_{d}" for d in INDEXED_DIMS}


def test_similar_photos_are_read_from_the_index_and_agree_with_exact_search(alice: User) -> None:
    vectors = clustered(600)
    ids = library([(alice, "public")], vectors)
    settled()
    query = Photo.objects.get(pk=ids[7])
    with CaptureQueriesContext(connection) as queries:
        found = [p.pk for p in similar_photos(viewer=AnonymousUser(), photo=query)]
    truth = exact_nearest(vectors, ids, ids[7], set(ids), 12)
    assert len(set(found) & set(truth)) >= 11  # recall@12 of HNSW on this library
    assert "embedding_vec_1280" in explained(
        next(q["sql"] for q in queries.captured_queries if "<=>" in q["sql"])
    )


def test_the_index_query_skips_other_peoples_private_photos_even_when_they_are_all_nearest(
    alice: User, bob: User, carol: User
) -> None:
    vectors = clustered(1000, seed=1)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    nearest_first = np.argsort(-(unit @ unit[0])).tolist()
    # Bob's 80 private photos are the ones nearest to Alice's, more than one index search reads
    # (hnsw.ef_search): only an iterative scan reaches the public photos behind them.
    bobs = set(nearest_first[1:81])
    owners = [(alice, "public")] + [
        (bob, "private") if i in bobs else (carol, "public") for i in range(1, 1000)
    ]
    ids = [library([owner], vectors[i : i + 1])[0] for i, owner in enumerate(owners)]
    settled()
    with CaptureQueriesContext(connection) as queries:
        found = vector_search.visible_neighbours(photo_id=ids[0], space=SPACE, viewer=alice, limit=12)
    private = {ids[i] for i in bobs}
    assert len(found) == 12 and not set(found) & private
    truth = exact_nearest(vectors, ids, ids[0], set(ids) - private, 12)
    assert len(set(found) & set(truth)) >= 11
    assert "embedding_vec_1280" in explained(
        next(q["sql"] for q in queries.captured_queries if "<=>" in q["sql"])
    )
    # Bob sees his own private photos first.
    assert (
        set(vector_search.visible_neighbours(photo_id=ids[0], space=SPACE, viewer=bob, limit=12)) <= private
    )


def test_near_duplicates_found_through_the_index_agree_with_the_brute_force_search(
    alice: User, bob: User
) -> None:
    rng = np.random.default_rng(2)
    originals = clustered(300, seed=3)
    copies = originals[:30] + 0.05 * rng.normal(size=(30, DIM))  # re-saves: cosine about 0.999
    ids = library([(alice, "public"), (bob, "public")], np.vstack([originals, copies]))
    settled()
    fresh = ids[300:]
    vectors = {pk: np.vstack([originals, copies])[ids.index(pk)].astype(np.float16) for pk in fresh}
    with CaptureQueriesContext(connection) as queries:
        links = flag_near_duplicates(vectors=vectors, backbone=SPACE)
    lateral = [q["sql"] for q in queries.captured_queries if "LATERAL" in q["sql"]]
    assert len(lateral) == 1  # one query for the whole batch, one index scan per photo in it
    assert "embedding_vec_1280" in explained(lateral[0])
    # Copy i belongs to the owner of original i (both cycle alice, bob). HNSW is approximate: a
    # copy may be missed (bench_scale measures how often), but never linked to the wrong photo.
    truth = {ids[300 + i]: ids[i] for i in range(30)}
    assert all(truth[copy] == original for copy, original in links.items())
    assert len(links) >= 26
    exact = {
        pk: near[0][0] for pk, near in numpy_search.neighbours(vectors=vectors, space=SPACE, limit=1).items()
    }
    nearest = dict(
        PhotoEmbedding.objects.filter(photo_id__in=fresh).values_list("photo_id", "nearest_photo_id")
    )
    assert sum(nearest[pk] == exact[pk] for pk in fresh) >= 26
