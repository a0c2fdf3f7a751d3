"""The page benchmark's data, built as the site builds it: uploads through ``upload_photo``, the
tagging worker's results through the services it writes them with, people's tags and votes
through the tag services. Only the workers' heartbeat rows and the timestamps are set by hand."""

from __future__ import annotations

import argparse
import io
import random
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from _stack import REPO, Stack
from PIL import Image

KINDS_FALLBACK = [
    "dress",
    "hat",
    "longsleeve",
    "outwear",
    "pants",
    "shirt",
    "shoes",
    "shorts",
    "skirt",
    "t-shirt",
]
# What the day-zero ImageNet model plausibly suggests for each kind of photo (its tag names).
SUGGESTIONS = {
    "dress": ["gown", "overskirt"], "hat": ["cowboy_hat", "sombrero"],
    "longsleeve": ["sweatshirt", "cardigan"], "outwear": ["trench_coat", "fur_coat"],
    "pants": ["jean", "suit"], "shirt": ["jersey", "bow_tie"],
    "shoes": ["running_shoe", "loafer"], "shorts": ["swimming_trunks", "pajama"],
    "skirt": ["miniskirt", "overskirt"], "t-shirt": ["jersey", "sweatshirt"],
}  # fmt: skip
MODEL_TAGS = sorted({name for names in SUGGESTIONS.values() for name in names})
FAIL_REASONS = [
    "cannot identify image file: not a format we can read",
    "Truncated file: the image ends early",
    "Decompression bomb: 61,000,000 pixels is more than the 50,000,000 allowed",
]


def source_images(dataset: Path | None, count: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """(kind, JPEG bytes), all different: real clothing photos when the dataset is there, else
    noise JPEGs."""
    if dataset is not None and (dataset / "train").is_dir():
        by_kind: dict[str, list[Path]] = {}
        for path in sorted((dataset / "train").rglob("*.jpg")):
            by_kind.setdefault(path.parent.name, []).append(path)
        kinds = sorted(by_kind)
        chosen = [(k, path) for k in kinds for path in rng.sample(by_kind[k], count // len(kinds))]
        return [(kind, path.read_bytes()) for kind, path in chosen]
    out = []
    for i in range(count):
        noise = np.random.default_rng(i).integers(0, 256, (60, 80, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noise).resize((640, 480)).save(buffer, format="JPEG", quality=85)
        out.append((KINDS_FALLBACK[i % len(KINDS_FALLBACK)], buffer.getvalue()))
    return out


def upload_all(members: list[Any], args: argparse.Namespace, rng: random.Random) -> dict[int, str]:
    """Uploads ``--photos`` photos through ``upload_photo``; returns each one's kind. Photo i is
    file i % files, so several people upload each file (stored once), and each file's uploaders
    are its own shuffle of the members, as the upload refuses a file its owner already has."""
    from api.photos.services import upload_photo

    sources = source_images(args.dataset, args.files, rng)
    if args.photos > len(sources) * len(members):
        raise SystemExit(
            f"--photos {args.photos} needs --files of at least {-(-args.photos // len(members))}"
        )
    uploaders = [rng.sample(members, len(members)) for _ in sources]
    kind_of: dict[int, str] = {}
    for i in range(args.photos):
        kind, data = sources[i % len(sources)]
        roll = rng.random()
        visibility = "public" if roll < 0.8 else "unlisted" if roll < 0.9 else "private"
        owner = uploaders[i % len(sources)][i // len(sources)]
        photo = upload_photo(owner=owner, data=data, caption=f"My {kind}, take {i}", visibility=visibility)
        kind_of[photo.pk] = kind
    return kind_of


def tag_as_a_worker(kind_of: dict[int, str], rng: random.Random, seed: int) -> dict[int, list[str]]:
    """Plays the tagging worker with version 0, through the services it writes with: 96% tagged
    (three suggestions, two fitting and one wrong, and an embedding: the kind's centre plus noise,
    so training learns something), 2% failed with a reason, 2% left pending. Returns each tagged
    photo's suggestions."""
    from api.tagging.services import TaggingResult, apply_results, claim_batch, mark_failed, release_claims
    from trainer.backbones import DEFAULT_BACKBONE

    np_rng = np.random.default_rng(seed)
    centres = {kind: np_rng.normal(0, 1, 1280) for kind in sorted(set(kind_of.values()))}
    worker = "bench-fill"
    suggested: dict[int, list[str]] = {}
    pending: list[int] = []
    while batch := claim_batch(worker=worker, size=500, active_version=0):
        results = []
        for photo in batch:
            kind = kind_of[photo.pk]
            roll = rng.random()
            if roll < 0.02:
                pending.append(photo.pk)
                continue
            if roll < 0.04:
                mark_failed(photo_id=photo.pk, worker=worker, reason=rng.choice(FAIL_REASONS))
                continue
            fitting = SUGGESTIONS.get(kind, MODEL_TAGS[:2])
            names = [*fitting, rng.choice([t for t in MODEL_TAGS if t not in fitting])]
            suggested[photo.pk] = names
            vector = (centres[kind] + np_rng.normal(0, 1.2, 1280)).astype(np.float16)
            suggestions = [(name, round(rng.uniform(0.16, 0.9), 3), 0) for name in names]
            results.append(TaggingResult(photo_id=photo.pk, suggestions=suggestions, embedding=vector))
        apply_results(worker=worker, results=results, version=0, backbone=DEFAULT_BACKBONE)
    # Released only now: claim_batch would hand them straight back.
    release_claims(worker=worker, photo_ids=pending)
    return suggested


def review(
    members: list[Any], kind_of: dict[int, str], suggested: dict[int, list[str]], rng: random.Random
) -> None:
    """People look at 60% of the photos: the owner tags it with its kind, and on public ones
    (others may vouch only for what everyone can see) others vote on 90% of the suggestions,
    mostly confirming the fitting ones and rejecting the wrong one. The rest keep only the
    model's suggestions, as photos nobody has reviewed do."""
    from api.photos.models import Photo
    from api.tags import services as tag_services

    reviewed = [pk for pk in sorted(kind_of) if rng.random() < 0.6]
    for photo in Photo.objects.filter(pk__in=reviewed).select_related("owner").order_by("id"):
        kind = kind_of[photo.pk]
        tag_services.add_tag(photo=photo, user=photo.owner, name=kind)
        if photo.visibility != "public":
            continue
        for name in suggested.get(photo.pk, []):
            if rng.random() < 0.9:
                voter = rng.choice([m for m in members if m.pk != photo.owner_id])
                fits = name in SUGGESTIONS.get(kind, [])
                value = "confirm" if (rng.random() < 0.85) == fits else "reject"
                tag_services.vote(photo=photo, user=voter, name=name, value=value)


def spread_in_time(rng: random.Random) -> None:
    """Uploads over 30 days, newest last, and a few hundred tagged in the last hour for the
    activity chart: rows just made all carry this minute, which no service would change."""
    from django.db import connection
    from django.utils import timezone

    from api.photos.models import Photo

    now = timezone.now()
    newest = Photo.objects.order_by("-id").values_list("id", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE photos_photo SET created_at = %s - (%s - id) * interval '8 minutes', "
            "tagged_at = CASE WHEN status = 'tagged' THEN %s - (%s - id) * interval '8 minutes' END",
            [now, newest, now, newest],
        )
    recent = list(Photo.objects.filter(status="tagged").order_by("-id").values_list("id", flat=True)[:300])
    for photo_id in recent:
        Photo.objects.filter(pk=photo_id).update(tagged_at=now - timedelta(seconds=rng.uniform(0, 3600)))


def fill(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """Every row written by the services the site writes it with, except the workers' heartbeat
    rows (a heartbeat needs a loaded model) and the timestamps (:func:`spread_in_time`)."""
    from django.contrib.auth.models import User
    from django.db.models import Count
    from django.utils import timezone

    from api.photos.models import Photo
    from api.tagging.models import PhotoEmbedding, WorkerStatus
    from api.tags.models import PhotoTag, Tag, TagVote
    from trainer.day_zero import ensure_active_model

    rng = random.Random(args.seed)
    ensure_active_model(Path(stack.env["SHARED_FS"]) / "models")
    members = [User.objects.create_user(f"member{i:02d}", password="bench-pass-4821") for i in range(20)]
    User.objects.create_user("boss", password="bench-pass-4821", is_staff=True)
    started = time.perf_counter()
    kind_of = upload_all(members, args, rng)
    uploaded_s = time.perf_counter() - started
    review(members, kind_of, tag_as_a_worker(kind_of, rng, args.seed), rng)
    spread_in_time(rng)
    now = timezone.now()
    for i in range(2):
        WorkerStatus.objects.create(
            name=f"bench-worker-{i}:{1000 + i}",
            device="cpu",
            model_version=1,
            photos_tagged=2400 + i,
            started_at=now - timedelta(hours=3),
            last_seen=now,
        )
    filled_s = time.perf_counter() - started

    train = subprocess.run(
        [sys.executable, "manage.py", "train"], cwd=REPO, env=stack.env, capture_output=True, text=True
    )
    if train.returncode != 0:
        raise SystemExit(f"manage.py train failed:\n{train.stdout}\n{train.stderr[-3000:]}")
    counts = {
        "photos": Photo.objects.count(),
        "distinct_files": Photo.objects.values("content_hash").distinct().count(),
        "by_visibility": dict(Photo.objects.values_list("visibility").annotate(n=Count("id")).order_by()),
        "by_status": dict(Photo.objects.values_list("status").annotate(n=Count("id")).order_by()),
        "members": len(members),
        "tags": Tag.objects.count(),
        "photo_tags": PhotoTag.objects.count(),
        "votes": TagVote.objects.count(),
        "embeddings": PhotoEmbedding.objects.count(),
        "upload_seconds": round(uploaded_s, 1),
        "fill_seconds": round(filled_s, 1),
        "training": train.stdout.strip(),
    }
    return counts
