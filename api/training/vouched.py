"""Which tags count as labels, decided in the database: people's trust and every label's backing
are two set-based queries, so a run reads one row per label and never every vote.

The rule is ``api.training.labels``'s docstring (and the README's): the owner's word counts with
weight 1; otherwise enough trusted people must agree (one for a model suggestion,
``TAG_CONFIRMATIONS_REQUIRED`` for a person's), and the label's weight is their mean trust. Trust
is ``(agreeing votes + 1) / (votes + 2)`` over votes on other people's decided tags, 0.5 for
someone who has not voted yet. The SQL runs on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.utils.dateparse import parse_datetime

from api.photos.models import Photo, Visibility
from api.tags.models import PhotoTag, Tag, TagSource, TagState, TagVote, Vote


@dataclass
class Label:
    photo_id: int
    tag: str
    positive: bool
    weight: float
    decided_at: datetime | None = None


@dataclass
class Collected:
    labels: list[Label]
    trust: dict[int, float]
    excluded: int = 0
    counts: dict[str, int] = field(default_factory=dict)


VOTES, PHOTO_TAGS = TagVote._meta.db_table, PhotoTag._meta.db_table
PHOTOS, TAGS = Photo._meta.db_table, Tag._meta.db_table

# Each voter's trust, from their votes on decided tags of other people's photos.
TRUST_SQL = f"""
SELECT v.user_id,
       (SUM(CASE WHEN (v.value = %(confirm)s) = (pt.state = %(confirmed)s) THEN 1 ELSE 0 END) + 1.0)
       / (COUNT(*) + 2.0) AS trust
FROM {VOTES} v
JOIN {PHOTO_TAGS} pt ON pt.id = v.photo_tag_id
JOIN {PHOTOS} p ON p.id = pt.photo_id
WHERE pt.state IN (%(confirmed)s, %(rejected)s) AND p.owner_id <> v.user_id
GROUP BY v.user_id
"""

# Every decided tag on a public photo with its backing: whether the owner voted its way, how many
# trusted others did and their mean trust.
BACKING_SQL = f"""
WITH trust AS ({TRUST_SQL}),
decided AS (
    SELECT pt.id, pt.photo_id, t.name, pt.state, pt.source, pt.updated_at, p.owner_id,
           CASE WHEN pt.state = %(confirmed)s THEN %(confirm)s ELSE %(reject)s END AS wanted
    FROM {PHOTO_TAGS} pt
    JOIN {PHOTOS} p ON p.id = pt.photo_id
    JOIN {TAGS} t ON t.id = pt.tag_id
    WHERE pt.state IN (%(confirmed)s, %(rejected)s) AND p.visibility = %(public)s
),
backed AS (
    SELECT d.id,
           MAX(CASE WHEN v.user_id = d.owner_id AND v.value = d.wanted THEN 1 ELSE 0 END) AS by_owner,
           SUM(CASE WHEN v.user_id <> d.owner_id AND v.value = d.wanted
                     AND COALESCE(tr.trust, 0.5) >= %(min_trust)s THEN 1 ELSE 0 END) AS backers,
           AVG(CASE WHEN v.user_id <> d.owner_id AND v.value = d.wanted
                     AND COALESCE(tr.trust, 0.5) >= %(min_trust)s THEN COALESCE(tr.trust, 0.5) END) AS weight
    FROM decided d
    LEFT JOIN {VOTES} v ON v.photo_tag_id = d.id
    LEFT JOIN trust tr ON tr.user_id = v.user_id
    GROUP BY d.id
)
SELECT d.photo_id, d.name, d.state = %(confirmed)s, b.by_owner, b.backers, b.weight, d.source, d.updated_at
FROM decided d JOIN backed b ON b.id = d.id
ORDER BY d.id
"""


def _parameters() -> dict[str, str | float]:
    return {
        "confirm": Vote.CONFIRM, "reject": Vote.REJECT, "confirmed": TagState.CONFIRMED,
        "rejected": TagState.REJECTED, "public": Visibility.PUBLIC, "min_trust": settings.TRAIN_MIN_TRUST,
    }  # fmt: skip


def user_trust() -> dict[int, float]:
    with connection.cursor() as cursor:
        cursor.execute(TRUST_SQL, _parameters())
        return {int(user): float(trust) for user, trust in cursor.fetchall()}


def _when(value: object) -> datetime | None:
    # SQLite hands raw SQL's timestamps back as text.
    return parse_datetime(value) if isinstance(value, str) else value  # type: ignore[return-value]


def collect_labels() -> Collected:
    """Every high-quality label, and how many decided tags were left out for want of backing.
    Only public photos teach the model: its tag names, suggestions, metrics and vocabulary are
    shown to everyone, so a private or unlisted photo's tags must not reach them."""
    labels: list[Label] = []
    excluded = 0
    with connection.cursor() as cursor:
        cursor.execute(BACKING_SQL, _parameters())
        for photo_id, tag, positive, by_owner, backers, weight, source, decided_at in cursor.fetchall():
            if by_owner:
                labels.append(Label(int(photo_id), tag, bool(positive), 1.0, _when(decided_at)))
                continue
            needed = 1 if source == TagSource.MODEL else settings.TAG_CONFIRMATIONS_REQUIRED
            if (backers or 0) < needed:
                excluded += 1
                continue
            labels.append(Label(int(photo_id), tag, bool(positive), float(weight), _when(decided_at)))
    return Collected(labels=labels, trust=user_trust(), excluded=excluded)
