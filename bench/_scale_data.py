"""The library ``bench_scale.py`` seeds: N photos straight into PostgreSQL with COPY, with tags,
votes and embeddings, as a community site of that size would hold them after the loop ran.

- 20 owners (``owner00``..``owner19``) and a staff account ``boss``; 80% public, 10% unlisted,
  10% private photos.
- Embeddings (``efficientnet_lite0``'s space, 1,280 float16): 500 cluster centres plus noise
  (synthetic, no model runs), and 1% of photos re-saves of an earlier photo of the same owner
  (vector plus a little noise, cosine about 0.99).
- Tags: 300 names (``kind000``..``kind299``); each cluster has three, and each photo carries its
  cluster's three as model suggestions of version 0, day zero (scores 0.5-0.99). 30% of photos: the owner
  confirmed the first (with the owner's vote); 5%: the owner rejected the third (with the vote);
  5%: the owner added one more tag of its own (``kind<c+1>``), confirmed.
- Uploaded (and tagged by version 0) evenly over the last two years, oldest first.
- Thumbnails and originals are not written: the pages measured read rows, not files.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np

SPACE = "efficientnet_lite0"
DIM = 1280
OWNERS = 20
CENTRES = 500
TAGS = 300
COPY_SHARE = 0.01
UPLOAD_SPAN_DAYS = 730


@dataclass
class Library:
    vectors: np.ndarray  # float16, one row per photo
    owners: np.ndarray  # row numbers of the 20 owners
    visibility: np.ndarray
    cluster: np.ndarray
    copies: dict[int, int]  # a re-save's row -> its original's row
    first_id: int = 0  # the database id of row 0
    seed_seconds: float = 0.0
    index_build_seconds: float = 0.0
    index_mb: float = 0.0
    embeddings_table_mb: float = 0.0

    def photo_id(self, row: int) -> int:
        return self.first_id + row


def make_library(n: int, seed: int) -> Library:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CENTRES, DIM)).astype(np.float32)
    cluster = rng.integers(0, CENTRES, n)
    vectors = np.empty((n, DIM), dtype=np.float16)
    for start in range(0, n, 20000):
        m = min(20000, n - start)
        noise = rng.normal(size=(m, DIM)).astype(np.float32)
        vectors[start : start + m] = centres[cluster[start : start + m]] + 0.9 * noise
    owners = rng.integers(0, OWNERS, n)
    visibility = rng.choice(np.array(["public", "unlisted", "private"]), n, p=[0.8, 0.1, 0.1])
    copies: dict[int, int] = {}
    for row in sorted(rng.choice(np.arange(n // 2, n), int(n * COPY_SHARE), replace=False).tolist()):
        original = int(rng.integers(0, row))
        vectors[row] = vectors[original] + 0.1 * rng.normal(size=DIM)
        owners[row], cluster[row] = owners[original], cluster[original]
        copies[row] = original
    return Library(vectors, owners, visibility, cluster, copies)


def recorded_nearest(lib: Library) -> tuple[np.ndarray, np.ndarray]:
    """Each photo's nearest earlier photo as the tagging worker records it on embedding (row and
    cosine; -1 and NaN for none): a re-save's original; otherwise the previous photo of its cluster,
    a stand-in for its true nearest whose cosine (about 0.55) is as far below the near-duplicate
    threshold. Without them, a library that never ran the worker would make the first training run
    search the index once per labelled photo, which a running library never does."""
    n = len(lib.vectors)
    nearest = np.full(n, -1, dtype=np.int64)
    previous: dict[int, int] = {}
    for row in range(n):
        cluster = int(lib.cluster[row])
        nearest[row] = lib.copies.get(row, previous.get(cluster, -1))
        previous[cluster] = row
    cosine = np.full(n, np.nan, dtype=np.float32)
    for start in range(0, n, 20000):
        rows = np.arange(start, min(n, start + 20000))
        rows = rows[nearest[rows] >= 0]
        a = lib.vectors[rows].astype(np.float32)
        b = lib.vectors[nearest[rows]].astype(np.float32)
        cosine[rows] = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return nearest, cosine


def cluster_tags(cluster: int) -> list[int]:
    """A cluster's three distinct tags."""
    names = [cluster % TAGS]
    for step in (7, 13, 1, 2, 3):
        candidate = (cluster * step + len(names)) % TAGS
        if candidate not in names:
            names.append(candidate)
        if len(names) == 3:
            return names
    raise AssertionError("unreachable: five candidates for two places")


def uploaded_at(n: int, span_days: float = UPLOAD_SPAN_DAYS) -> list[str]:
    """When each photo was uploaded (and tagged): evenly over the last ``span_days``, oldest first,
    as COPY reads a timestamp. A library of that size did not arrive in the last hour, and the
    pages that read recent activity would measure that impossible hour."""
    end = time.time()
    step = span_days * 86400 / max(n, 1)
    return [time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(end - (n - row) * step)) for row in range(n)]


def _copy(cursor: object, table: str, columns: str, rows: io.StringIO) -> None:
    rows.seek(0)
    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT text)", rows)  # type: ignore[attr-defined]


def seed(n: int, rng_seed: int) -> Library:
    """COPY everything, then build the HNSW index (timed) and VACUUM ANALYZE."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from api.photos import activity
    from api.photos.models import ActivityMinute, Photo
    from api.tagging.models import PhotoEmbedding
    from api.tagging.vectors import halfvec_text
    from api.tags.models import PhotoTag, Tag, TagVote

    lib = make_library(n, rng_seed)
    rng = np.random.default_rng(rng_seed + 1)
    users = [User.objects.create_user(f"owner{i:02d}", password="bench-pass") for i in range(OWNERS)]
    User.objects.create_user("boss", password="bench-pass", is_staff=True, is_superuser=True)
    user_ids = np.array([u.pk for u in users])
    tags = Tag.objects.bulk_create([Tag(name=f"kind{t:03d}") for t in range(TAGS)])
    tag_ids = [t.pk for t in tags]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS embedding_vec_1280")
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {Photo._meta.db_table}")
        lib.first_id = int(cursor.fetchone()[0]) + 1
        pg = cursor.connection.cursor()
        when = uploaded_at(n)
        photos = io.StringIO()
        for row in range(n):
            at = when[row]
            photos.write(
                f"{lib.photo_id(row)}\t{user_ids[lib.owners[row]]}\t{row:064x}\tjpg\timage/jpeg\t1000\t400\t300\t"
                f"\t{lib.visibility[row]}\t{row:032x}\ttagged\t\t0\t\t\\N\t{at}\t\\N\t\\N\tf\t\\N\t{at}\t{at}\n"
            )
        columns = (
            "id, owner_id, content_hash, file_ext, mime_type, byte_size, width, height, caption,"
            " visibility, share_token, status, status_reason, model_version, claimed_by, claimed_at,"
            " tagged_at, latitude, longitude, show_location, near_duplicate_of_id, created_at, updated_at"
        )
        _copy(pg, Photo._meta.db_table, columns, photos)
        del photos
        photo_tags, votes = io.StringIO(), io.StringIO()
        tag_row = 0
        for row in range(n):
            at = when[row]
            owner = user_ids[lib.owners[row]]
            names = cluster_tags(int(lib.cluster[row]))
            roll = rng.random()
            for position, t in enumerate(names):
                state = "suggested"
                if position == 0 and roll < 0.30:
                    state = "confirmed"
                elif position == 2 and 0.30 <= roll < 0.35:
                    state = "rejected"
                tag_row += 1
                score = 0.5 + 0.49 * rng.random()
                photo_tags.write(
                    f"{tag_row}\tmodel\t{state}\t{score:.4f}\t0\t{at}\t{at}\t\\N\t{lib.photo_id(row)}\t{tag_ids[t]}\n"
                )
                if state != "suggested":
                    vote = "confirm" if state == "confirmed" else "reject"
                    votes.write(f"{vote}\t{at}\t{at}\t{tag_row}\t{owner}\n")
            if 0.35 <= roll < 0.40:
                tag_row += 1
                extra = tag_ids[
                    next(t for t in range(names[0] + 1, names[0] + 5) if t % TAGS not in names) % TAGS
                ]
                photo_tags.write(
                    f"{tag_row}\tuser\tconfirmed\t\\N\t\\N\t{at}\t{at}\t{owner}\t{lib.photo_id(row)}\t{extra}\n"
                )
        columns = (
            "id, source, state, score, model_version, created_at, updated_at, added_by_id, photo_id, tag_id"
        )
        _copy(pg, PhotoTag._meta.db_table, columns, photo_tags)
        _copy(pg, TagVote._meta.db_table, "value, created_at, updated_at, photo_tag_id, user_id", votes)
        del photo_tags, votes
        nearest, cosine = recorded_nearest(lib)
        columns = "photo_id, backbone, dim, vector, vec, nearest_photo_id, nearest_cosine, updated_at"
        for start in range(0, n, 10000):
            chunk = io.StringIO()
            for row in range(start, min(n, start + 10000)):
                vector = lib.vectors[row]
                near = (f"{lib.photo_id(int(nearest[row]))}\t{cosine[row]:.4f}" if nearest[row] >= 0
                        else "\\N\t\\N")  # fmt: skip
                chunk.write(
                    f"{lib.photo_id(row)}\t{SPACE}\t{DIM}\t\\\\x{vector.tobytes().hex()}\t{halfvec_text(vector)}"
                    f"\t{near}\tnow\n"
                )
            _copy(pg, PhotoEmbedding._meta.db_table, columns, chunk)
        # The staff dashboard's per-minute counts, as uploads and tagging would have left them.
        activity.count_from_photos(Photo.objects.all(), ActivityMinute, timezone.now() - activity.KEPT_FOR)
        for table, last in ((Photo._meta.db_table, lib.photo_id(n)), (PhotoTag._meta.db_table, tag_row + 1)):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last})")
        lib.seed_seconds = round(time.perf_counter() - started, 1)
        # The graph must fit in memory while it is built, or the build slows down many times over.
        cursor.execute("SET maintenance_work_mem = '8GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        started = time.perf_counter()
        cursor.execute(
            f"CREATE INDEX embedding_vec_1280 ON {PhotoEmbedding._meta.db_table} "
            "USING hnsw ((vec::halfvec(1280)) halfvec_cosine_ops) WHERE dim = 1280"
        )
        lib.index_build_seconds = round(time.perf_counter() - started, 1)
        # VACUUM, not only ANALYZE: freshly copied rows have no hint bits and no visibility map, so
        # the first reads of every page would write it back and index-only scans would visit the
        # heap, which a library that has been running a while does not do.
        cursor.execute("VACUUM ANALYZE")
        cursor.execute(
            "SELECT pg_relation_size('embedding_vec_1280'), pg_total_relation_size(%s)",
            [PhotoEmbedding._meta.db_table],
        )
        index_bytes, table_bytes = cursor.fetchone()
    lib.index_mb = round(index_bytes / 2**20, 1)
    lib.embeddings_table_mb = round(table_bytes / 2**20, 1)
    return lib
