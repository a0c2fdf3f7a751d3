"""Scale benchmark, first part: the embeddings' index at N photos (issue 18).

    .venv/bin/python bench/bench_scale.py --photos 100000 --out bench/results/scale-100k.json

What it does, all on this machine:

1. A fresh PostgreSQL database ``tagloop_bench_scale`` (``bench/_stack.py``), migrated.
2. Seeds N photos straight into PostgreSQL with COPY: 20 owners, 80% public, 10% unlisted, 10%
   private, and an embedding each in ``efficientnet_lite0``'s space. The embeddings are
   synthetic (no model runs): 500 cluster centres plus noise, so a photo's neighbours are its
   cluster's, and 1% of the photos are re-saves of an earlier photo of the same owner (the
   vector plus a little noise, cosine about 0.99). The HNSW index is dropped for the COPY and
   built afterwards, timed; its size is read from PostgreSQL.
3. Starts gunicorn (1 worker x 4 threads) and asks ``GET /api/photos/<id>/similar/`` for
   ``--queries`` random public photos, anonymously, one at a time, after 10 untimed ones:
   p50/p95 from sending to the last byte.
4. Recall@12 of similar photos against exact search (numpy over every public photo) on
   ``--sample`` photos: the share of the exact 12 nearest that the product returns.
5. Near-duplicates as a tagging batch writes them: ``flag_near_duplicates`` on batches of 16
   photos (one indexed query per photo), timed; and the share of the re-saves it links to their
   original.

Not measured yet (issue 18's note says so): the other pages, upload-to-tags, a training run, the
re-tag by re-scoring. The JSON's ``summary`` has those keys as null.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import Stack, machine_facts, percentile

DB_NAME = "tagloop_bench_scale"
REDIS_DB = 11
SPACE = "efficientnet_lite0"
DIM = 1280
OWNERS = 20
CENTRES = 500
COPY_SHARE = 0.01


def library(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, int]]:
    """Vectors (float16), owners (row numbers of the 20), visibilities, and re-save -> original."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CENTRES, DIM)).astype(np.float32)
    vectors = np.empty((n, DIM), dtype=np.float16)
    for start in range(0, n, 20000):
        m = min(20000, n - start)
        vectors[start : start + m] = centres[rng.integers(0, CENTRES, m)] + 0.9 * rng.normal(size=(m, DIM))
    owners = rng.integers(0, OWNERS, n)
    visibility = rng.choice(np.array(["public", "unlisted", "private"]), n, p=[0.8, 0.1, 0.1])
    copies: dict[int, int] = {}
    for row in sorted(rng.choice(np.arange(n // 2, n), int(n * COPY_SHARE), replace=False).tolist()):
        original = int(rng.integers(0, row))
        vectors[row] = vectors[original] + 0.1 * rng.normal(size=DIM)
        owners[row] = owners[original]
        copies[row] = original
    return vectors, owners, visibility, copies


def seed(n: int, rng_seed: int) -> dict[str, Any]:
    """COPY the photos and their embeddings; build the index afterwards. Answers timings and ids."""
    from django.contrib.auth.models import User
    from django.db import connection

    from api.photos.models import Photo
    from api.tagging.models import PhotoEmbedding
    from api.tagging.vectors import halfvec_text

    vectors, owners, visibility, copies = library(n, rng_seed)
    users = [User.objects.create_user(f"owner{i:02d}") for i in range(OWNERS)]
    user_ids = np.array([u.pk for u in users])
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS embedding_vec_1280")
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM " + Photo._meta.db_table)
        first_id = int(cursor.fetchone()[0]) + 1
        raw = cursor.connection
        photos = io.StringIO()
        for row in range(n):
            photos.write(
                f"{first_id + row}\t{user_ids[owners[row]]}\t{row:064x}\tjpg\timage/jpeg\t1000\t400\t300\t\t"
                f"{visibility[row]}\t{row:032x}\ttagged\t\t1\t\t\\N\tnow\t\\N\t\\N\tf\t\\N\tnow\tnow\n"
            )
        photos.seek(0)
        with raw.cursor() as pg:
            pg.copy_expert(
                f"COPY {Photo._meta.db_table} (id, owner_id, content_hash, file_ext, mime_type, byte_size,"
                " width, height, caption, visibility, share_token, status, status_reason, model_version,"
                " claimed_by, claimed_at, tagged_at, latitude, longitude, show_location,"
                " near_duplicate_of_id, created_at, updated_at) FROM STDIN WITH (FORMAT text, NULL '\\N')",
                photos,
            )
        del photos
        for start in range(0, n, 10000):
            chunk = io.StringIO()
            for row in range(start, min(n, start + 10000)):
                vector = vectors[row]
                hex_bytes = vector.tobytes().hex()
                chunk.write(
                    f"{first_id + row}\t{SPACE}\t{DIM}\t\\\\x{hex_bytes}\t{halfvec_text(vector)}\tnow\n"
                )
            chunk.seek(0)
            with raw.cursor() as pg:
                pg.copy_expert(
                    f"COPY {PhotoEmbedding._meta.db_table} (photo_id, backbone, dim, vector, vec, updated_at)"
                    " FROM STDIN WITH (FORMAT text)",
                    chunk,
                )
        table = Photo._meta.db_table
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {first_id + n})")
        seeded = time.perf_counter() - started
        cursor.execute("SET maintenance_work_mem = '4GB'")
        started = time.perf_counter()
        cursor.execute(
            f"CREATE INDEX embedding_vec_1280 ON {PhotoEmbedding._meta.db_table} "
            "USING hnsw ((vec::halfvec(1280)) halfvec_cosine_ops) WHERE dim = 1280"
        )
        built = time.perf_counter() - started
        cursor.execute("ANALYZE")
        cursor.execute("SELECT pg_relation_size('embedding_vec_1280'), pg_total_relation_size(%s)",
                       [PhotoEmbedding._meta.db_table])  # fmt: skip
        index_bytes, table_bytes = cursor.fetchone()
    return {
        "vectors": vectors, "visibility": visibility, "copies": copies, "first_id": first_id,
        "seed_seconds": round(seeded, 1), "index_build_seconds": round(built, 1),
        "index_mb": round(index_bytes / 2**20, 1), "embeddings_table_mb": round(table_bytes / 2**20, 1),
    }  # fmt: skip


def unit(vectors: np.ndarray) -> np.ndarray:
    x = vectors.astype(np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)


def similar_latency(base: str, photo_ids: list[int], warmup: int = 10) -> dict[str, float]:
    session = requests.Session()
    for pk in photo_ids[:warmup]:
        session.get(f"{base}/api/photos/{pk}/similar/", timeout=30).raise_for_status()
    samples = []
    for pk in photo_ids[warmup:]:
        started = time.perf_counter()
        response = session.get(f"{base}/api/photos/{pk}/similar/", timeout=30)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return {"p50_ms": round(statistics.median(samples), 1), "p95_ms": round(percentile(samples, 0.95), 1),
            "n": len(samples)}  # fmt: skip


def recall_at_12(data: dict[str, Any], rows: list[int]) -> float:
    from django.contrib.auth.models import AnonymousUser

    from api.tagging.vector_search import visible_neighbours

    public = np.flatnonzero(data["visibility"] == "public")
    matrix = unit(data["vectors"][public])
    hits = 0
    for row in rows:
        query = unit(data["vectors"][row : row + 1])[0]
        scores = matrix @ query
        order = public[np.argsort(-scores)]
        truth = {data["first_id"] + int(r) for r in order[order != row][:12]}
        photo_id = data["first_id"] + row
        found = visible_neighbours(photo_id=photo_id, space=SPACE, viewer=AnonymousUser(), limit=12)
        hits += len(truth & set(found))
    return round(hits / (12 * len(rows)), 4)


def near_duplicates(data: dict[str, Any], batches: int) -> dict[str, float]:
    from django.db import transaction

    from api.tagging.similarity import flag_near_duplicates

    copies = sorted(data["copies"])[: 16 * batches]
    times, linked = [], 0
    for start in range(0, len(copies), 16):
        rows = copies[start : start + 16]
        vectors = {data["first_id"] + r: data["vectors"][r] for r in rows}
        started = time.perf_counter()
        with transaction.atomic():
            links = flag_near_duplicates(vectors=vectors, backbone=SPACE)
        times.append((time.perf_counter() - started) * 1000)
        first = data["first_id"]
        linked += sum(1 for r in rows if links.get(first + r) == first + data["copies"][r])
    return {"batch_of_16_p50_ms": round(statistics.median(times), 1),
            "batch_of_16_p95_ms": round(percentile(times, 0.95), 1),
            "copies_linked_to_their_original": round(linked / len(copies), 4),
            "batches": len(times)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=10000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    stack = Stack(DB_NAME, REDIS_DB)
    started = time.perf_counter()
    try:
        stack.use_here()
        data = seed(args.photos, args.seed)
        print(f"seeded {args.photos} photos in {data['seed_seconds']} s", flush=True)
        print(f"index built in {data['index_build_seconds']} s", flush=True)
        public = np.flatnonzero(data["visibility"] == "public").tolist()
        picks = random.Random(args.seed).sample(public, args.queries + 10 + args.sample)
        base = stack.web(workers=1, threads=4)
        similar = similar_latency(base, [data["first_id"] + r for r in picks[: args.queries + 10]])
        recall = recall_at_12(data, picks[args.queries + 10 :])
        duplicates = near_duplicates(data, args.batches)
        result = {
            "machine": machine_facts(),
            "photos": args.photos,
            "similar_http": similar,
            "similar_recall_at_12": recall,
            "near_duplicates": duplicates,
            **{k: data[k] for k in ("seed_seconds", "index_build_seconds", "index_mb")},
            "embeddings_table_mb": data["embeddings_table_mb"],
            "wall_seconds": round(time.perf_counter() - started, 1),
        }
        result["summary"] = {
            "photos": args.photos,
            "p95_ms": {"similar": similar["p95_ms"]},
            "similar_recall_at_12": recall,
            "upload_to_tags_p50_s": None,
            "train_seconds": None,
            "train_peak_rss_mb": None,
            "rescore_seconds": None,
            "not_measured_yet": ["other pages", "upload to tags", "training run", "re-scoring"],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["summary"], indent=2))
    finally:
        stack.close()


if __name__ == "__main__":
    main()
