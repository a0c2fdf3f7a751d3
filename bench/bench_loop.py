"""The self-training loop end to end, through the REST API, with real workers.

    .venv/bin/python bench/bench_loop.py --dataset ../shared/datasets/clothing10 \
        --out bench/results/loop.json --plot bench/results/loop.png

A stream of uploads (the dataset's train split) arrives in rounds. After each round simulated
people tag a fraction of the new photos through the API (the owner adds the photo's class, wrong
in ``--wrong-rate`` of cases, and a second person confirms or rejects the model's top suggestion
when it is one of the classes), then the schedule check runs, as beat would every
``TRAIN_CHECK_MINUTES``: it starts a run once ``TRAIN_MIN_NEW_LABELS`` new labels arrived. After
each round the active model is scored on the held-out test split (never uploaded). The loop must
climb, and every activated version must be at least as good as the one before on those photos.
Each run's gate verdict, reason and intervals and its preview of the library are recorded beside
what the held-out photos say (bench/README.md, 'The loop through the API').
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loop_eval import HeldOut, run_record, summarise
from _loop_plot import plot
from _stack import REPO, Stack, machine_facts

# The settings the loop's figures depend on, as the stack's processes read them.
SETTINGS = ("MIN_PHOTOS_PER_TAG", "TAG_CONFIRMATIONS_REQUIRED", "TRAIN_MIN_NEW_LABELS", "TRAIN_FOLDS",
            "TRAIN_TOLERANCE", "TRAIN_MAX_EPOCHS", "TRAIN_GATE_MIN_SUPPORT", "TRAIN_GATE_BOOTSTRAP",
            "TRAIN_GATE_TOLERANCE", "TRAIN_MIN_FIRST_MAP", "TRAIN_BACKGROUND_PHOTOS",
            "TRAIN_BACKGROUND_WEIGHT", "TRAIN_IMPLICIT_NEGATIVE_WEIGHT")  # fmt: skip


def test_embeddings(dataset: Path, models_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    from trainer.inference import Prediction, Tagger

    files = sorted((dataset / "test").rglob("*.jpg"))
    tagger = Tagger.load(models_dir, 0)
    vectors = []
    for start in range(0, len(files), 32):
        for result in tagger.predict_sources(files[start : start + 32]):
            assert isinstance(result, Prediction), result
            vectors.append(result.embedding.astype(np.float32))
    return np.stack(vectors), np.array([f.parent.name for f in files])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--uploads-per-round", type=int, default=120)
    parser.add_argument("--label-fraction", type=float, default=0.6)
    parser.add_argument("--wrong-rate", type=float, default=0.1)
    parser.add_argument("--min-new-labels", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database", default="tagloop_bench_loop", help="made fresh, dropped at the end")
    parser.add_argument("--redis-db", type=int, default=12)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "loop.json")
    parser.add_argument("--plot", type=Path, default=REPO / "bench" / "results" / "loop.png")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    train = sorted((args.dataset / "train").rglob("*.jpg"))
    rng.shuffle(train)
    classes = sorted({f.parent.name for f in train})

    began = time.monotonic()
    stack = Stack(
        args.database,
        args.redis_db,
        MIN_PHOTOS_PER_TAG="10",
        TRAIN_MIN_NEW_LABELS=str(args.min_new_labels),
        TAGGER_BATCH_SIZE="16",
        TAG_CONFIRMATIONS_REQUIRED="2",
    )
    # Queues and cache from an earlier run (the suppressed day-zero tags, the schedule) start empty.
    cache = redis.Redis.from_url(stack.env["REDIS_URL"])
    cache.flushdb()
    result: dict[str, Any] = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "machine": machine_facts(),
        "loadavg_start": os.getloadavg(),
        "rounds": [],
    }
    try:
        stack.use_here()
        from django.conf import settings

        from api.celery import app
        from api.photos.models import Photo
        from api.training.models import TrainingRun
        from trainer.backbones import DEFAULT_BACKBONE
        from trainer.day_zero import ensure_active_model

        result["settings"] = {name: getattr(settings, name) for name in SETTINGS}
        result["settings"]["backbone"] = DEFAULT_BACKBONE

        models_dir = Path(stack.env["SHARED_FS"]) / "models"
        ensure_active_model(models_dir)
        print("embedding the held-out test split…", flush=True)
        test_x, test_classes = test_embeddings(args.dataset, models_dir)
        held = HeldOut(models_dir, test_x, test_classes)
        stack.worker("tagging,default", "tagger", processes=None)
        stack.worker("training", "trainer")
        base = stack.web()
        app.control.purge()
        tokens = {}
        for name in ("ana", "ben", "chloe", "dev"):
            answer = requests.post(
                f"{base}/api/auth/register/", data={"username": name, "password": f"{name}-pass-4821"}
            )
            tokens[name] = {"Authorization": f"Token {answer.json()['token']}"}
        owners, checkers = ["ana", "ben", "chloe"], ["dev"]

        uploaded = 0
        # Each photo's class and the tag its owner gave (None: not tagged), to read the previews.
        known: dict[int, dict[str, str | None]] = {}
        for round_no in range(1, args.rounds + 1):
            started = time.monotonic()
            batch = train[uploaded : uploaded + args.uploads_per_round]
            uploaded += len(batch)
            photos = []
            for i, path in enumerate(batch):
                owner = owners[i % len(owners)]
                answer = requests.post(
                    f"{base}/api/photos/",
                    headers=tokens[owner],
                    files={"image": (path.name, path.read_bytes())},
                    timeout=60,
                )
                answer.raise_for_status()
                photos.append((answer.json()["id"], owner, path.parent.name))
                known[photos[-1][0]] = {"truth": path.parent.name, "owner_tag": None}
            ids = [p for p, _, _ in photos]
            deadline = time.monotonic() + 600
            while Photo.objects.filter(pk__in=ids, status="pending").exists():
                if time.monotonic() > deadline:
                    raise SystemExit(f"tagging stalled:\n{stack.log('tagger')}")
                time.sleep(0.5)
            wrong = given = confirmed = rejected = 0
            for photo_id, owner, truth in photos:
                if rng.random() >= args.label_fraction:
                    continue
                tag = (
                    truth
                    if rng.random() >= args.wrong_rate
                    else rng.choice([c for c in classes if c != truth])
                )
                wrong += tag != truth
                known[photo_id]["owner_tag"] = tag
                given += 1
                requests.post(
                    f"{base}/api/photos/{photo_id}/tags/", headers=tokens[owner], json={"name": tag}
                )
                body = requests.get(f"{base}/api/photos/{photo_id}/", headers=tokens[checkers[0]]).json()
                model = [t for t in body["tags"] if t["source"] == "model" and t["name"] in classes]
                if model:
                    top = max(model, key=lambda t: t["score"])
                    verdict = "confirm" if top["name"] == truth else "reject"
                    confirmed += verdict == "confirm"
                    rejected += verdict == "reject"
                    requests.post(
                        f"{base}/api/photos/{photo_id}/tags/{top['name']}/{verdict}/",
                        headers=tokens[checkers[0]],
                    )
            before = TrainingRun.objects.count()
            app.send_task("api.training.tasks.check_schedule")  # what beat does every TRAIN_CHECK_MINUTES
            time.sleep(1.0)
            run = None
            if TrainingRun.objects.count() > before:
                run = TrainingRun.objects.order_by("-id").first()
                while run is not None and run.status in {"queued", "running"}:
                    time.sleep(0.5)
                    run.refresh_from_db()
            from trainer import bundle

            score = held.score(bundle.current_version(models_dir))  # type: ignore[arg-type]
            record = {
                "round": round_no,
                "photos_uploaded": uploaded,
                "owner_tags": given,
                "wrong_owner_tags": wrong,
                "suggestions_confirmed": confirmed,
                "suggestions_rejected": rejected,
                "run": None if run is None else run_record(run, known),
                "active": score,
                "seconds": round(time.monotonic() - started, 1),
            }
            if run is not None and run.status == "rejected" and run.model_version is not None:
                # Now: the bundles go with the stack.
                record["run"]["held_out"] = held.score(run.model_version)
            result["rounds"].append(record)
            print(json.dumps(record), flush=True)
    finally:
        stack.close()
        cache.flushdb()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))  # the rounds, should the summary fail
    result |= summarise(result["rounds"], held)
    result["loadavg_end"] = os.getloadavg()
    result["wall_seconds"] = round(time.monotonic() - began, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    plot(result, args.plot)
    for activation in result["activations"]:
        print(summary_line(activation), flush=True)
    for candidate in result["rejected_candidates"]:
        print(f"rejected v{candidate['version']}: {candidate['gate']['reason']}", flush=True)
    for key in ("held_out_map_climbs", "no_activation_significantly_worse_in_top1",
                "no_activation_significantly_worse_in_map", "wall_seconds"):  # fmt: skip
        print(f"{key}: {result[key]}", flush=True)
    return 0


def summary_line(activation: dict[str, Any]) -> str:
    gate, held_out = activation["gate"] or {}, activation["held_out"]
    versus = activation["held_out_vs_previous"] or {}
    interval = gate.get("candidate_map")
    difference = gate.get("difference")
    return (
        f"v{activation['version']} ({activation['tags']} tags): held-out top-1 {held_out['top1']:.3f}"
        f" mAP {held_out['map']:.3f}"
        + (f"; gate mAP {_interval(interval)}" if interval else "")
        + (f", difference {_interval(difference)}" if difference else ", not compared")
        + (
            f"; held-out mAP difference {_interval(versus['map_difference'])}, p_worse {versus['p_worse']}"
            if versus.get("map_difference")
            else ""
        )
        + (f"; held back {', '.join(gate['held_back'])}" if gate.get("held_back") else "")
        + (
            f"; too little support {', '.join(gate['too_little_support'])}"
            if gate.get("too_little_support")
            else ""
        )
        + (
            f"; preview gain/lose/change {p['gain']}/{p['lose']}/{p['change']} of {p['photos']}"
            if (p := activation["preview"])
            else ""
        )
    )


def _interval(figure: dict[str, float]) -> str:
    return f"{figure['value']:.3f} [{figure['low']:.3f}, {figure['high']:.3f}]"


if __name__ == "__main__":
    sys.exit(main())
