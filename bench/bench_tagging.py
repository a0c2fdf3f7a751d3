"""Tagging benchmark: model-only throughput, end-to-end worker throughput, upload-to-tags latency
and worker memory, on this machine's CPU (or a GPU where one is present).

    .venv/bin/python bench/bench_tagging.py --dataset ../shared/datasets/clothing10 \
        --out bench/results/tagging.json

1. Model only: photos already decoded and preprocessed into tensors in memory, fed to the
   day-zero model in batches: as one stream with every core's threads, and as the worker's pool
   runs it on a CPU (a stream per core, one thread each), both as threads of one process and as
   forked processes; the fastest is the ceiling the worker can reach.
2. End to end: a real Celery worker (``-Q tagging``, its pool sized as production sizes it) on
   PostgreSQL and Redis tags a backlog of photos stored through the upload service: claim, read
   the file, decode, preprocess, infer, write tags and embeddings. Timed from the wake-up message
   to the last photo tagged, with the model already loaded. Runs alternate with model-only runs,
   and the ratio is the median of each pair's. Target: at least 80% of model-only.
3. Latency: one photo at a time through gunicorn's ``POST /api/photos/``, polling
   ``GET /api/photos/{id}/`` until it reads ``tagged``, with the worker idle in between.
   Target: p50 under 1 s.
4. Memory: the worker's resident set (parent and pool processes) with the model loaded, and its
   peak while tagging; also its proportional set (PSS), which counts the pages the processes
   share (torch's libraries) once.

Both this process (model only) and the worker run with the model processes' allocator settings
(``trainer/allocator.py``) and ``--cpu-chunk`` photos per forward pass, as production does;
``--glibc-defaults --cpu-chunk 16`` measures how both ran before those existed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import REPO, Stack, machine_facts, percentile, pss_mb, rss_mb, tree

from trainer.allocator import CPU_CHUNK, model_process_env

DB_NAME = "tagloop_bench_tagging"
REDIS_DB = 13


def dataset_files(dataset: Path, count: int, seed: int) -> list[Path]:
    files = sorted(dataset.rglob("*.jpg"))
    if len(files) < count:
        raise SystemExit(f"{dataset} has {len(files)} photos; {count} are needed")
    random.Random(seed).shuffle(files)
    return files[:count]


def machine() -> dict[str, Any]:
    import torch

    return {
        **machine_facts(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


# ---------------------------------------------------------------- 1. model only


class ModelOnly:
    """The ways the worker could run the model on this machine: one stream of batches with every
    core's threads, and the worker's plan on a CPU (one stream per core, one thread each, side by
    side) both as threads of one process and as processes, as the worker's pool runs it. The
    fastest is the ceiling end to end is measured against."""

    def __init__(self, models_dir: Path, files: list[Path], batch: int, cpu_chunk: int):
        import torch

        from api.tagging.pool import pool_size, torch_threads, usable_cores
        from trainer.inference import Tagger

        self.tagger = Tagger.load(models_dir, 0, cpu_chunk=cpu_chunk)
        started = time.perf_counter()
        tensors = [self.tagger.decode(path) for path in files]
        self.decode_s = time.perf_counter() - started
        self.photos, self.batch = len(tensors), batch
        self.batches = [torch.stack(tensors[i : i + batch]) for i in range(0, len(tensors), batch)]
        self.cores = usable_cores()
        gpu = self.tagger.device.type == "cuda"
        streams = pool_size(requested=0, cores=self.cores, sqlite=False, gpu=gpu)
        threads = torch_threads(cores=self.cores, processes=streams)
        self.ways = {
            "one_stream_all_threads": (1, self.cores, False),
            "worker_plan_as_threads": (streams, threads, False),
            "worker_plan_as_processes": (streams, threads, True),
        }
        if streams == 1:  # the same as one stream
            del self.ways["worker_plan_as_threads"], self.ways["worker_plan_as_processes"]
        self.forked = {
            way: _ForkedStreams(self, count, per_stream)
            for way, (count, per_stream, forked) in self.ways.items()
            if forked
        }
        self.rates: dict[str, list[float]] = {way: [] for way in self.ways}
        for way in self.ways:
            self._timed(way)  # warm-up: first-call allocations and kernel choices

    def run(self) -> float:
        """One timed run of each way; returns the fastest's photos/s."""
        for way in self.ways:
            self.rates[way].append(self._timed(way))
        return max(rates[-1] for rates in self.rates.values())

    def shares(self, count: int) -> list[list[Any]]:
        return [self.batches[i::count] for i in range(count)]

    def run_share(self, share: list[Any]) -> None:
        for chunk in share:
            self.tagger.predict_tensors(chunk)

    def _timed(self, way: str) -> float:
        import torch

        count, per_stream, forked = self.ways[way]
        if forked:
            return self.photos / self.forked[way].run()
        torch.set_num_threads(per_stream)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=count) as pool:
            list(pool.map(self.run_share, self.shares(count)))
        rate = self.photos / (time.perf_counter() - started)
        torch.set_num_threads(self.cores)
        return rate

    def close(self) -> None:
        for streams in self.forked.values():
            streams.close()

    def report(self) -> dict[str, Any]:
        medians = {way: round(statistics.median(r), 2) for way, r in self.rates.items()}
        best = max(medians, key=lambda way: medians[way])
        return {
            "photos": self.photos,
            "batch_size": self.batch,
            "device": str(self.tagger.device),
            "ways": {
                way: {
                    "streams": self.ways[way][0],
                    "threads_each": self.ways[way][1],
                    "processes": self.ways[way][2],
                    "runs_photos_per_s": [round(r, 2) for r in self.rates[way]],
                    "photos_per_s": medians[way],
                }
                for way in self.ways
            },
            "best_way": best,
            "photos_per_s": medians[best],
            "decode_and_preprocess_photos_per_s_one_thread": round(self.photos / self.decode_s, 2),
        }


class _ForkedStreams:
    """Streams in processes forked from this one (the model and the batches are shared copy on
    write), each running its share of the batches whenever :meth:`run` asks; they wait between."""

    def __init__(self, model: ModelOnly, count: int, threads: int):
        context = multiprocessing.get_context("fork")
        self.go = [context.SimpleQueue() for _ in range(count)]
        self.done: multiprocessing.Queue[bool] = context.Queue()
        self.processes = [
            context.Process(target=self._serve, args=(model, share, threads, go, self.done), daemon=True)
            for share, go in zip(model.shares(count), self.go, strict=True)
        ]
        for process in self.processes:
            process.start()

    @staticmethod
    def _serve(model: ModelOnly, share: list[Any], threads: int, go: Any, done: Any) -> None:
        import torch

        torch.set_num_threads(threads)
        while go.get():
            model.run_share(share)
            done.put(True)

    def run(self) -> float:
        """Seconds for every stream to run its share once."""
        started = time.perf_counter()
        for go in self.go:
            go.put(True)
        for _ in self.go:
            try:
                self.done.get(timeout=600)
            except queue.Empty:
                raise SystemExit("a model-only stream process died or hung") from None
        return time.perf_counter() - started

    def close(self) -> None:
        for go in self.go:
            go.put(False)
        for process in self.processes:
            process.join(timeout=30)


# ---------------------------------------------------------------- 2-4. with Django, a worker, gunicorn


def seed_photos(files: list[Path]) -> list[int]:
    from django.contrib.auth.models import User

    from api.photos.services import upload_photo

    owner, _ = User.objects.get_or_create(username="bench")
    return [upload_photo(owner=owner, data=path.read_bytes()).pk for path in files]


def reset_to_pending(ids: list[int]) -> None:
    from api.photos.models import Photo
    from api.tagging.models import PhotoEmbedding
    from api.tags.models import PhotoTag

    PhotoTag.objects.filter(photo_id__in=ids, source="model").delete()
    PhotoEmbedding.objects.filter(photo_id__in=ids).delete()
    Photo.objects.filter(pk__in=ids).update(status="pending", model_version=None, tagged_at=None)


def wait_for_model(worker: subprocess.Popen[bytes], stack: Stack) -> None:
    """Until every pool process of the worker has loaded the model (each beats once it has)."""
    from api.tagging.models import WorkerStatus

    deadline = time.monotonic() + 180
    while len(pool := tree(worker.pid)[1:]) == 0 or WorkerStatus.objects.filter(
        model_version__isnull=False
    ).count() < len(pool):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start:\n{stack.log('worker')}")
        time.sleep(0.2)


def end_to_end_once(ids: list[int], worker: psutil.Process) -> tuple[float, float]:
    """The backlog tagged once by the worker, from the wake-up: photos/s and peak worker RSS."""
    from api.photos.models import Photo
    from api.tagging.tasks import tag_pending

    reset_to_pending(ids)
    # Listed once: finding a process's children scans all of /proc (2.5 ms here), which at 20
    # polls a second took CPU from the worker on this 2-core machine.
    processes = tree(worker.pid)
    peak = rss_mb(processes)
    started = time.perf_counter()
    tag_pending.delay()
    while Photo.objects.filter(pk__in=ids, status="pending").exists():
        peak = max(peak, rss_mb(processes))
        time.sleep(0.05)
    return len(ids) / (time.perf_counter() - started), peak


def alternating(ids: list[int], worker: psutil.Process, model: ModelOnly, runs: int) -> dict[str, Any]:
    """Model-only and end-to-end runs in turn: this VM's speed drifts by 10-20% within minutes,
    and timing the two phases apart measured the drift as much as the worker. The ratio is taken
    per pair of runs, and its median reported."""
    from api.photos.models import Photo

    # One untimed pass first, as model-only has its warm-up: the first pass also pays for the
    # worker's first allocations and PostgreSQL's cold caches.
    warm_up, _ = end_to_end_once(ids, worker)
    rates, peaks, ratios = [], [], []
    for _ in range(runs):
        ceiling = model.run()
        rate, peak = end_to_end_once(ids, worker)
        rates.append(rate)
        peaks.append(peak)
        ratios.append(rate / ceiling)
    return {
        "photos": len(ids),
        "warm_up_photos_per_s": round(warm_up, 2),
        "runs_photos_per_s": [round(r, 2) for r in rates],
        "photos_per_s": round(statistics.median(rates), 2),
        "failed": Photo.objects.filter(pk__in=ids, status="failed").count(),
        "peak_worker_rss_mb": max(peaks),
        "runs_vs_model_only": [round(r, 3) for r in ratios],
    }


def latency(base: str, token: str, files: list[Path], pause_s: float) -> dict[str, Any]:
    from api.photos.models import Photo

    headers = {"Authorization": f"Token {token}"}
    seconds, server_side = [], []
    for path in files:
        time.sleep(pause_s)  # the worker is idle when each photo arrives
        started = time.perf_counter()
        response = requests.post(
            f"{base}/api/photos/",
            headers=headers,
            files={"image": (path.name, path.read_bytes())},
            timeout=60,
        )
        response.raise_for_status()
        photo_id = response.json()["id"]
        while (
            requests.get(f"{base}/api/photos/{photo_id}/", headers=headers, timeout=30).json()["status"]
            == "pending"
        ):
            time.sleep(0.01)
        seconds.append(time.perf_counter() - started)
        photo = Photo.objects.get(pk=photo_id)
        server_side.append((photo.tagged_at - photo.created_at).total_seconds())  # type: ignore[operator]
    return {
        "photos": len(seconds),
        "p50_s": round(percentile(seconds, 0.5), 3),
        "p95_s": round(percentile(seconds, 0.95), 3),
        "max_s": round(max(seconds), 3),
        "server_p50_s_row_created_to_tagged": round(percentile(server_side, 0.5), 3),
        "all_s": [round(s, 3) for s in seconds],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--photos", type=int, default=256, help="photos for the throughput runs")
    parser.add_argument("--latency-photos", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cpu-chunk", type=int, default=CPU_CHUNK, help="photos per forward pass on a CPU")
    parser.add_argument(
        "--glibc-defaults", action="store_true", help="without the model processes' allocator settings"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "tagging.json")
    args = parser.parse_args()
    # glibc reads its settings when a process starts: this one runs model-only, so it starts again
    # with them (its workers inherit the same environment).
    wanted = {**os.environ, "GLIBC_TUNABLES": ""} if args.glibc_defaults else model_process_env(os.environ)
    if os.environ.get("GLIBC_TUNABLES") != wanted["GLIBC_TUNABLES"]:
        os.execve(sys.executable, [sys.executable, *sys.argv], wanted)

    files = dataset_files(args.dataset, args.photos + args.latency_photos, seed=7)
    throughput_files, latency_files = files[: args.photos], files[args.photos :]
    stack = Stack(DB_NAME, REDIS_DB, TAGGER_BATCH_SIZE=str(args.batch), TAGGER_CPU_CHUNK=str(args.cpu_chunk))
    try:
        stack.use_here()
        from django.contrib.auth.models import User

        from api.accounts.services import token_for
        from api.celery import app
        from trainer.day_zero import ensure_active_model

        result: dict[str, Any] = {
            "dataset": str(args.dataset),
            "machine": machine(),
            "runs": args.runs,
            "cpu_chunk": args.cpu_chunk,
            "glibc_tunables": os.environ["GLIBC_TUNABLES"],
        }
        models_dir = Path(stack.env["SHARED_FS"]) / "models"
        ensure_active_model(models_dir)
        print("model only (decoding)…", flush=True)
        model = ModelOnly(models_dir, throughput_files, args.batch, args.cpu_chunk)

        print("seeding…", flush=True)
        ids = seed_photos(throughput_files)
        app.control.purge()  # the uploads' wake-ups; the timed runs send their own
        worker = stack.worker("tagging", "worker", processes=None)
        wait_for_model(worker, stack)
        process = psutil.Process(worker.pid)
        result["worker_rss_mb_model_loaded_idle"] = rss_mb(tree(process.pid))
        result["worker_pss_mb_model_loaded_idle"] = pss_mb(tree(process.pid))
        result["worker_pool_processes"] = len(tree(process.pid)) - 1
        print("model only and end to end, in turn…", flush=True)
        result["end_to_end"] = alternating(ids, process, model, args.runs)
        result["model_only"] = model.report()
        result["end_to_end_vs_model_only"] = round(
            statistics.median(result["end_to_end"]["runs_vs_model_only"]), 3
        )
        result["ratio_of_medians"] = round(
            result["end_to_end"]["photos_per_s"] / result["model_only"]["photos_per_s"], 3
        )
        model.close()
        del model  # its tensors and second copy of the network
        base = stack.web()
        print("latency…", flush=True)
        token = token_for(User.objects.get(username="bench"))
        result["latency"] = latency(base, token, latency_files, pause_s=0.5)
        result["worker_rss_mb_after"] = rss_mb(tree(process.pid))
    finally:
        stack.close()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    summary = {
        "model_only_photos_per_s": result["model_only"]["photos_per_s"],
        "end_to_end_photos_per_s": result["end_to_end"]["photos_per_s"],
        "end_to_end_vs_model_only": result["end_to_end_vs_model_only"],
        "each_run_vs_model_only": result["end_to_end"]["runs_vs_model_only"],
        "latency_p50_s": result["latency"]["p50_s"],
        "latency_p95_s": result["latency"]["p95_s"],
        "worker_pool_processes": result["worker_pool_processes"],
        "worker_rss_mb_idle": result["worker_rss_mb_model_loaded_idle"],
        "worker_pss_mb_idle": result["worker_pss_mb_model_loaded_idle"],
        "worker_rss_mb_peak": result["end_to_end"]["peak_worker_rss_mb"],
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
