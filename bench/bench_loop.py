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
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from _stack import REPO, Stack


def held_out_scores(models_dir: Path, test_x: np.ndarray, test_classes: np.ndarray) -> dict[str, Any]:
    """The active model on the test split, from the test photos' embeddings."""
    from trainer import bundle
    from trainer.metrics import mean_average_precision
    from trainer.training import sigmoid_scores

    version = bundle.current_version(models_dir)
    manifest = bundle.verify(models_dir, version)  # type: ignore[arg-type]
    if manifest.head.kind != "sigmoid":
        return {"version": version, "top1": 0.0, "map": 0.0, "tags": 0}
    weight, bias = bundle.load_head(models_dir, manifest)
    scores = sigmoid_scores(weight, bias, test_x)
    tags = np.array(manifest.tags)
    labels = (test_classes[:, None] == tags[None, :]).astype(np.float32)
    _SCORES[version] = (list(manifest.tags), scores)  # type: ignore[index]
    return {
        "version": version,
        "top1": round(float((tags[scores.argmax(axis=1)] == test_classes).mean()), 4),
        "map": round(mean_average_precision(scores, labels), 4),
        "tags": len(tags),
    }


_SCORES: dict[int, tuple[list[str], np.ndarray]] = {}


def on_shared_tags(before: int, after: int, test_classes: np.ndarray) -> dict[str, Any]:
    """Two versions on the held-out photos the way the gate compares them: only the tags both
    know, and only the photos of those tags (a model that learnt a new tag is not better for it)."""
    from trainer.metrics import mean_average_precision

    (tags_a, scores_a), (tags_b, scores_b) = _SCORES[before], _SCORES[after]
    shared = [t for t in tags_a if t in tags_b]
    rows = np.isin(test_classes, shared)
    labels = (test_classes[rows][:, None] == np.array(shared)[None, :]).astype(np.float32)
    out: dict[str, Any] = {"from": before, "to": after, "shared_tags": len(shared), "photos": int(rows.sum())}
    right = {}
    for name, tags, scores in (("before", tags_a, scores_a), ("after", tags_b, scores_b)):
        mine = scores[rows][:, [tags.index(t) for t in shared]]
        right[name] = np.array(shared)[mine.argmax(axis=1)] == test_classes[rows]
        out[f"top1_{name}"] = round(float(right[name].mean()), 4)
        out[f"map_{name}"] = round(mean_average_precision(mine, labels), 4)
    lost = int((right["before"] & ~right["after"]).sum())
    won = int((~right["before"] & right["after"]).sum())
    out |= {"photos_lost": lost, "photos_won": won, "p_worse": round(p_worse(lost, won), 4)}
    return out


def p_worse(lost: int, won: int) -> float:
    """Exact one-sided McNemar test: the chance of losing at least ``lost`` of the ``lost + won``
    photos on which two models disagree, were the new one no worse than the old. Small values
    mean really worse; top-1 on a few hundred photos moves by a few photos between equal models."""
    disagreements = lost + won
    return sum(math.comb(disagreements, k) for k in range(lost, disagreements + 1)) / 2**disagreements


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
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "loop.json")
    parser.add_argument("--plot", type=Path, default=REPO / "bench" / "results" / "loop.png")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    train = sorted((args.dataset / "train").rglob("*.jpg"))
    rng.shuffle(train)
    classes = sorted({f.parent.name for f in train})

    stack = Stack(
        "tagloop_bench_loop",
        12,
        MIN_PHOTOS_PER_TAG="10",
        TRAIN_MIN_NEW_LABELS=str(args.min_new_labels),
        TAGGER_BATCH_SIZE="16",
        TAG_CONFIRMATIONS_REQUIRED="2",
    )
    result: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "rounds": []}
    try:
        stack.use_here()
        from api.celery import app
        from api.photos.models import Photo
        from api.training.models import TrainingRun
        from trainer.day_zero import ensure_active_model

        models_dir = Path(stack.env["SHARED_FS"]) / "models"
        ensure_active_model(models_dir)
        print("embedding the held-out test split…", flush=True)
        test_x, test_classes = test_embeddings(args.dataset, models_dir)
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
            score = held_out_scores(models_dir, test_x, test_classes)
            record = {
                "round": round_no,
                "photos_uploaded": uploaded,
                "owner_tags": given,
                "wrong_owner_tags": wrong,
                "suggestions_confirmed": confirmed,
                "suggestions_rejected": rejected,
                "run": None
                if run is None
                else {
                    "id": run.pk,
                    "status": run.status,
                    "version": run.model_version,
                    "validation_map": run.metrics.get("map"),
                    "error": run.error,
                },
                "active": score,
                "seconds": round(time.monotonic() - started, 1),
            }
            result["rounds"].append(record)
            print(json.dumps(record), flush=True)
    finally:
        stack.close()

    activated = [r["active"] for r in result["rounds"]]
    changes = [(a, b) for a, b in itertools.pairwise(activated) if b["version"] != a["version"]]
    result["every_activation_at_least_as_good"] = all(b["top1"] >= a["top1"] for a, b in changes)
    result["activations_on_shared_tags"] = [
        on_shared_tags(a["version"], b["version"], test_classes)
        for a, b in changes
        if a["tags"] and b["tags"]
    ]
    result["every_activation_at_least_as_good_on_shared_tags"] = {
        metric: all(
            c[f"{metric}_after"] >= c[f"{metric}_before"] for c in result["activations_on_shared_tags"]
        )
        for metric in ("map", "top1")
    }
    # Held-out photos differ from validation photos, so equal models differ here by a few
    # photos: "significantly worse" is a one-sided McNemar test at 5% on top-1.
    result["no_activation_significantly_worse_in_top1"] = all(
        c["p_worse"] >= 0.05 for c in result["activations_on_shared_tags"]
    )
    result["final_top1"] = activated[-1]["top1"] if activated else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    plot(result, args.plot)
    print(f"every activation at least as good: {result['every_activation_at_least_as_good']}", flush=True)
    return 0


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = result["rounds"]
    labels = np.cumsum(
        [r["owner_tags"] + r["suggestions_confirmed"] + r["suggestions_rejected"] for r in rounds]
    )
    figure, axis = plt.subplots(figsize=(6, 4), dpi=120)
    axis.plot(labels, [r["active"]["top1"] for r in rounds], marker="o", label="held-out top-1")
    axis.plot(labels, [r["active"]["map"] for r in rounds], marker="s", label="held-out mAP")
    for x, r in zip(labels, rounds, strict=True):
        axis.annotate(
            f"v{r['active']['version']}",
            (x, r["active"]["top1"]),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    axis.set_xlabel("labels people gave (owner tags + confirmations + rejections)")
    axis.set_ylabel("active model on the test split")
    axis.set_ylim(0, 1)
    axis.set_title("The loop, through the API with real workers (clothing10)")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


if __name__ == "__main__":
    sys.exit(main())
