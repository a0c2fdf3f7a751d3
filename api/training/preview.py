"""What a candidate would do to the library, computed before it goes live from the stored
embeddings (no decode, no backbone pass): how many photos gain, lose or change the suggestion they
show first, with a few examples. It follows the same rule as the worker that re-tags them
(``Tagger.suggestions`` and ``api.tagging.plan``), so its counts are what re-tagging then does,
as long as nobody votes in between. On a large library it previews the newest ``PHOTOS`` tagged
photos, the ones people see first, and says of how many: at 100,000 photos the whole library took
15 s of a run, at a million it would take minutes. Loads torch: only the trainer runs it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from api.photos.models import Photo, TaggingStatus
from api.tagging.models import PhotoEmbedding
from api.tagging.plan import Existing, shown_after, top_suggestion
from api.tagging.services import current_tags, vector_of
from api.tagging.suppression import suppressed_names
from api.volume import models_dir
from trainer.inference import Tagger

CHUNK = 2000
PHOTOS = 20000  # the newest tagged photos a preview re-scores at most
EXAMPLES = 5
KINDS = ("gain", "lose", "change")


@dataclass
class Preview:
    photos: int = 0  # tagged photos the candidate would re-score (the newest, at most PHOTOS)
    library: int = 0  # tagged photos in the library
    same: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    examples: dict[str, list[dict[str, object]]] = field(default_factory=lambda: {k: [] for k in KINDS})
    without_embedding: int = 0  # tagged photos that need a pass over pixels instead

    def to_dict(self) -> dict[str, object]:
        return {"photos": self.photos, "library": self.library, "same": self.same, **self.counts,
                "examples": self.examples, "without_embedding": self.without_embedding}  # fmt: skip


def preview(version: int) -> Preview:
    tagger = Tagger.load(models_dir(), version, device=settings.TAGGER_DEVICE)
    suppressed = suppressed_names()
    out = Preview()
    tagged = Photo.objects.filter(status=TaggingStatus.TAGGED)
    rows = PhotoEmbedding.objects.filter(backbone=tagger.backbone_id, photo__in=tagged).order_by("-photo_id")
    before: int | None = None
    while out.photos < PHOTOS:
        window = rows if before is None else rows.filter(photo_id__lt=before)
        chunk = list(window.values_list("photo_id", "vector")[: min(CHUNK, PHOTOS - out.photos)])
        if not chunk:
            break
        before = chunk[-1][0]
        ids = [pk for pk, _ in chunk]
        vectors = np.stack([vector_of(v) for _, v in chunk])
        _, existing = current_tags(ids)
        for pk, prediction in zip(ids, tagger.predict_embeddings(vectors), strict=True):
            wanted = {
                s.tag: s.score
                for s in tagger.suggestions(prediction, settings.TAGGER_MAX_SUGGESTIONS, suppressed)
            }
            _count(out, pk, existing[pk], wanted)
    out.library = tagged.count()
    # Among the photos the preview spans (from the oldest it reached): the rest of the library is
    # beyond what it looked at.
    spanned = tagged if before is None or out.photos < PHOTOS else tagged.filter(pk__gte=before)
    out.without_embedding = spanned.count() - out.photos
    return out


def _count(out: Preview, photo_id: int, existing: dict[str, Existing], wanted: dict[str, float]) -> None:
    now = {
        name: tag.score or 0.0
        for name, tag in existing.items()
        if tag.source == "model" and tag.state == "suggested"
    }
    before, later = top_suggestion(now), top_suggestion(shown_after(existing, wanted))
    out.photos += 1
    if before == later:
        out.same += 1
        return
    kind = "gain" if before is None else "lose" if later is None else "change"
    out.counts[kind] += 1
    if len(out.examples[kind]) < EXAMPLES:
        out.examples[kind].append({"photo": photo_id, "before": before, "after": later})
