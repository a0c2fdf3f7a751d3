"""The model core alone (no Django): the backbone port, preprocessing, bundles, day zero."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.bundles import CAT_CLASSES, publish_head
from tests.helpers.images import image_bytes
from tests.helpers.paths import REPO
from trainer import bundle
from trainer.allocator import model_process_env
from trainer.backbones import DEFAULT_BACKBONE, available_backbones, get_backbone
from trainer.day_zero import ensure_active_model
from trainer.imagenet import readable_tag
from trainer.images import jpeg_decoded_whole, open_for_model
from trainer.inference import Prediction, Tagger
from trainer.manifest import HEAD_FILE

FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    ensure_active_model(folder)
    return folder


@pytest.fixture(scope="module")
def day_zero(models_dir: Path) -> Tagger:
    return Tagger.load(models_dir, 0, device="cpu")


class TestTheOfflineBackbone:
    def test_the_default_backbone_is_available_without_a_download(self) -> None:
        assert DEFAULT_BACKBONE in available_backbones()

    def test_a_photo_of_a_cat_has_a_cat_class_in_its_imagenet_top_3(self, day_zero: Tagger) -> None:
        prediction = day_zero.predict_sources([FIXTURES / "cat.jpg"])[0]

        assert isinstance(prediction, Prediction)
        top3 = {day_zero.tags[i] for i in np.argsort(-prediction.scores)[:3]}
        assert top3 & CAT_CLASSES, top3

    def test_a_photo_of_coffee_is_an_espresso(self, day_zero: Tagger) -> None:
        prediction = day_zero.predict_sources([FIXTURES / "coffee.jpg"])[0]

        assert isinstance(prediction, Prediction)
        assert day_zero.suggestions(prediction, 5)[0].tag == "espresso"

    def test_a_torchvision_backbone_is_offered_only_when_its_weights_are_on_disk(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

        assert "resnet50_tv" not in available_backbones()
        with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
            get_backbone("resnet50_tv")
        (tmp_path / "checkpoints").mkdir()
        (tmp_path / "checkpoints" / "resnet50-0676ba61.pth").write_bytes(b"")
        assert "resnet50_tv" in available_backbones()


class TestPreprocessing:
    @pytest.mark.parametrize(
        ("mode", "color", "fmt"),
        [
            ("L", 120, "PNG"),
            ("P", 5, "PNG"),
            ("RGBA", (1, 2, 3, 100), "PNG"),
            ("CMYK", (0, 50, 9, 0), "JPEG"),
            ("I;16", 30000, "PNG"),
        ],
    )
    def test_every_mode_becomes_a_normalised_rgb_tensor(
        self, day_zero: Tagger, mode: str, color: object, fmt: str
    ) -> None:
        tensor = day_zero.decode(image_bytes(fmt, (300, 200), color, mode))  # type: ignore[arg-type]

        assert tensor.shape == (3, 224, 224)
        assert tensor.dtype == torch.float32 and -1.01 <= float(tensor.min()) <= float(tensor.max()) <= 1.01

    def test_big_jpegs_are_decoded_at_reduced_size(self) -> None:
        data = image_bytes("JPEG", (4000, 3000), (80, 90, 100))

        image = open_for_model(data, min_side=256)

        assert min(image.size) >= 256
        assert image.size[0] <= 1000  # decoded at 1/4 scale or less, never at 4000x3000

    def test_exif_orientation_is_applied_before_the_model_sees_the_photo(self) -> None:
        exif = Image.Exif()
        exif[0x0112] = 6
        out = io.BytesIO()
        Image.new("RGB", (400, 200)).save(out, format="JPEG", exif=exif.tobytes())

        assert open_for_model(out.getvalue(), min_side=200).size == (200, 400)

    def test_the_transform_comes_from_the_manifest(self, models_dir: Path) -> None:
        manifest = bundle.read_manifest(models_dir, 0)

        assert manifest.preprocessing.to_dict() == {
            "resize": 256,
            "crop": 224,
            "interpolation": "bicubic",
            "mean": [0.5, 0.5, 0.5],
            "std": [0.5, 0.5, 0.5],
        }


class TestBatchedInference:
    def test_the_device_decoder_agrees_with_pillow_and_falls_back_for_other_files(
        self, day_zero: Tagger
    ) -> None:
        cat = (FIXTURES / "cat.jpg").read_bytes()

        on_device = day_zero.decode_on_device([cat, image_bytes("PNG"), b"\xff\xd8 not really a jpeg"])

        assert isinstance(on_device[0], torch.Tensor) and isinstance(on_device[1], torch.Tensor)
        assert isinstance(on_device[2], Exception)
        # Two decoders and resizers differ by a few levels per pixel, never in what the photo shows.
        assert float((on_device[0] - day_zero.decode(cat)).abs().mean()) < 0.05
        scores = day_zero.predict_tensors(torch.stack([on_device[0]]))[0].scores
        assert {day_zero.tags[i] for i in np.argsort(-scores)[:3]} & CAT_CLASSES

    def test_on_the_cpu_small_plain_jpegs_skip_pillow_and_decode_to_what_pillow_gives(
        self, day_zero: Tagger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        exif = Image.Exif()
        exif[0x0112] = 6  # shown rotated a quarter turn
        textured = Image.effect_mandelbrot((400, 534), (-2.0, -1.2, 0.8, 1.2), 60).convert("RGB")
        out = io.BytesIO()
        textured.save(out, format="JPEG", exif=exif.tobytes())
        small, grey = out.getvalue(), image_bytes("JPEG", (300, 200), 90, "L")
        by_libjpeg_turbo: list[bytes] = []
        decode_jpeg = Tagger._decode_jpeg

        def counted(data: bytes, device: torch.device) -> torch.Tensor:
            by_libjpeg_turbo.append(data)
            return decode_jpeg(data, device)

        monkeypatch.setattr(Tagger, "_decode_jpeg", staticmethod(counted))

        # Pillow keeps what libjpeg-turbo cannot do as well: reduced-size decoding, CMYK, other files.
        assert not jpeg_decoded_whole(image_bytes("JPEG", (4000, 3000), (80, 90, 100)), 256)
        assert not jpeg_decoded_whole(image_bytes("JPEG", (300, 200), (0, 50, 9, 0), "CMYK"), 256)
        assert not jpeg_decoded_whole(image_bytes("PNG"), 256)
        for data in (small, grey):
            (tensor,) = day_zero.decode_sources([data])
            assert isinstance(tensor, torch.Tensor)
            assert float((tensor - day_zero.decode(data)).abs().max()) < 0.05  # upright, same pixels
        assert len(by_libjpeg_turbo) == 2

    def test_a_photo_that_cannot_be_decoded_fails_alone(self, day_zero: Tagger) -> None:
        results = day_zero.predict_sources([FIXTURES / "cat.jpg", b"not an image", FIXTURES / "coffee.jpg"])

        assert isinstance(results[0], Prediction) and isinstance(results[2], Prediction)
        assert isinstance(results[1], Exception)

    def test_predictions_carry_scores_per_tag_and_a_float16_embedding(self, day_zero: Tagger) -> None:
        prediction = day_zero.predict_sources([FIXTURES / "cat.jpg"])[0]

        assert isinstance(prediction, Prediction)
        assert prediction.scores.shape == (len(day_zero.tags),)
        assert prediction.embedding.shape == (1280,) and prediction.embedding.dtype == np.float16
        assert abs(float(prediction.scores.sum()) - 1.0) < 1e-3  # day zero: one softmax over classes

    def test_on_the_cpu_a_batch_runs_in_chunks_and_each_photo_scores_as_it_would_alone(
        self, models_dir: Path
    ) -> None:
        tagger = Tagger.load(models_dir, 0, device="cpu", cpu_chunk=4)
        photos = torch.stack(
            [tagger.decode(FIXTURES / "cat.jpg"), tagger.decode(FIXTURES / "coffee.jpg")]
            + [tagger.decode(image_bytes(color=(40 * i, 90, 200 - 30 * i))) for i in range(4)]
        )
        passes: list[int] = []
        hook = tagger.net.register_forward_pre_hook(lambda _, inputs: passes.append(len(inputs[0])))
        try:
            together = tagger.predict_tensors(photos)
        finally:
            hook.remove()
        alone = [tagger.predict_tensors(photo[None])[0] for photo in photos]

        assert passes == [4, 2]
        for batched, single in zip(together, alone, strict=True):
            np.testing.assert_allclose(batched.scores, single.scores, atol=1e-5)
            np.testing.assert_allclose(batched.embedding, single.embedding, atol=1e-2)

    def test_suggestions_respect_thresholds_and_the_limit(self, day_zero: Tagger) -> None:
        scores = np.zeros(len(day_zero.tags), dtype=np.float32)
        scores[[3, 7, 9]] = [0.5, 0.9, 0.1]
        prediction = Prediction(scores=scores, embedding=np.zeros(1280, dtype=np.float16))

        assert [s.tag for s in day_zero.suggestions(prediction, 5)] == [day_zero.tags[7], day_zero.tags[3]]
        assert [s.tag for s in day_zero.suggestions(prediction, 1)] == [day_zero.tags[7]]


class TestBundles:
    def test_day_zero_is_published_and_activated_once(self, models_dir: Path) -> None:
        assert bundle.current_version(models_dir) == 0
        assert ensure_active_model(models_dir) == 0
        manifest = bundle.verify(models_dir, 0)
        assert manifest.head.kind == "softmax_classes"
        assert "tabby" in manifest.tags and "great_white_shark" in manifest.tags
        assert len(set(manifest.tags)) == len(manifest.tags)

    def test_readable_tags_follow_the_tag_name_rule(self) -> None:
        assert readable_tag("great white shark") == "great_white_shark"
        assert readable_tag("jack-o'-lantern") == "jack-o-lantern"

    def test_a_published_bundle_verifies_and_activates_atomically(self, tmp_path: Path) -> None:
        publish_head(tmp_path, 1, ["a", "b"], [1.0, -1.0])

        bundle.activate(tmp_path, 1)

        assert bundle.current_version(tmp_path) == 1
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary leftovers
        manifest = bundle.verify(tmp_path, 1)
        assert manifest.tags == ["a", "b"] and set(manifest.checksums) == {HEAD_FILE}

    def test_a_published_version_is_never_overwritten(self, tmp_path: Path) -> None:
        models = tmp_path / "models"
        publish_head(models, 1, ["a"], [1.0])

        with pytest.raises(bundle.BundleError, match="already published"):
            publish_head(models, 1, ["z"], [1.0])
        assert bundle.read_manifest(models, 1).tags == ["a"]
        assert [p.name for p in models.iterdir()] == ["1"]

    def test_a_damaged_weight_file_is_refused_with_a_clear_error(self, tmp_path: Path) -> None:
        publish_head(tmp_path, 1, ["a"], [1.0])
        weights = tmp_path / "1" / HEAD_FILE
        weights.write_bytes(weights.read_bytes()[:-8] + b"garbage!")

        with pytest.raises(bundle.BundleError, match=f"{HEAD_FILE} is damaged"):
            Tagger.load(tmp_path, 1)
        with pytest.raises(bundle.BundleError):
            bundle.activate(tmp_path, 1)

    def test_a_broken_manifest_is_refused(self, tmp_path: Path) -> None:
        publish_head(tmp_path, 1, ["a"], [1.0])
        manifest = json.loads((tmp_path / "1" / "manifest.json").read_text())
        del manifest["thresholds"]
        (tmp_path / "1" / "manifest.json").write_text(json.dumps(manifest))

        with pytest.raises(bundle.BundleError, match="lacks thresholds"):
            bundle.verify(tmp_path, 1)

    def test_a_sigmoid_head_scores_each_tag_on_its_own(self, tmp_path: Path) -> None:
        publish_head(tmp_path, 1, ["always", "never"], [6.0, -6.0])
        tagger = Tagger.load(tmp_path, 1)

        prediction = tagger.predict_sources([FIXTURES / "cat.jpg"])[0]

        assert isinstance(prediction, Prediction)
        assert [s.tag for s in tagger.suggestions(prediction, 5)] == ["always"]


MEMORY_FAULTS_PER_PHOTO = """
import resource, sys, threading
from pathlib import Path
import torch
from trainer.inference import Tagger

tagger = Tagger.load(Path(sys.argv[1]), 0, device="cpu")
torch.set_num_threads(1)
batch = torch.rand(8, 3, 224, 224)

def tag(times):
    for _ in range(times):
        tagger.predict_tensors(batch)

def two_loops(times):  # two threads on one arena: the hardest case for reuse
    loops = [threading.Thread(target=tag, args=(times,)) for _ in range(2)]
    for loop in loops:
        loop.start()
    for loop in loops:
        loop.join()

two_loops(2)  # the heap grows to what two loops hold at once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
two_loops(3)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / (2 * 3 * len(batch)))
"""


def test_a_model_process_reuses_the_memory_a_batch_frees_instead_of_faulting_it_in_again(
    models_dir: Path,
) -> None:
    # Measured here: 0-330 pages per photo; without the allocator settings 2,800-4,100, and with
    # the settings but whole batches of 16 in one pass, 5,500.
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_FAULTS_PER_PHOTO, str(models_dir)],
        cwd=REPO,
        env=model_process_env({k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}),
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert float(result.stdout) < 500


def test_the_model_core_imports_no_django() -> None:
    code = (
        "import sys, trainer.inference, trainer.bundle, trainer.day_zero, trainer.gpu; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'django', 'api'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
