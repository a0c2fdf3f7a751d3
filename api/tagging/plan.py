"""What writing a photo's new model suggestions does to the tags it has: one pure rule, used by
the worker that writes them and by the preview that predicts them (docs/architecture.md,
'Suggestions: the community head and day zero').

- A tag a person added, confirmed or rejected, and a suggestion someone voted on, is never
  touched (a rejected tag is never re-added).
- Unreviewed model suggestions the new model no longer makes are removed; those it makes again
  take its new score and version; new ones are added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from api.tags.models import TagSource, TagState


@dataclass(frozen=True)
class Existing:
    source: str
    state: str
    score: float | None
    reviewed: bool  # someone voted on it

    @property
    def unreviewed_suggestion(self) -> bool:
        return self.source == TagSource.MODEL and self.state == TagState.SUGGESTED and not self.reviewed


@dataclass
class Plan:
    stale: list[str] = field(default_factory=list)  # removed
    fresh: list[str] = field(default_factory=list)  # added
    rescored: list[str] = field(default_factory=list)  # kept with the new score and version


def plan(existing: Mapping[str, Existing], wanted: Mapping[str, float]) -> Plan:
    out = Plan()
    out.stale = [name for name, tag in existing.items() if tag.unreviewed_suggestion and name not in wanted]
    for name in wanted:
        old = existing.get(name)
        if old is None:
            out.fresh.append(name)
        elif old.unreviewed_suggestion:
            out.rescored.append(name)
    return out


def shown_now(existing: Mapping[str, Existing]) -> dict[str, float]:
    """The model suggestions a photo shows, with their scores."""
    return {
        name: tag.score or 0.0
        for name, tag in existing.items()
        if tag.source == TagSource.MODEL and tag.state == TagState.SUGGESTED
    }


def shown_after(existing: Mapping[str, Existing], wanted: Mapping[str, float]) -> dict[str, float]:
    """The model suggestions a photo shows once ``wanted`` is written: what the preview counts."""
    steps = plan(existing, wanted)
    kept = {name: score for name, score in shown_now(existing).items() if name not in steps.stale}
    return kept | {name: wanted[name] for name in [*steps.fresh, *steps.rescored]}


def top_suggestion(suggestions: Mapping[str, float]) -> str | None:
    """The suggestion a photo shows first: the best score, ties by name."""
    if not suggestions:
        return None
    return min(suggestions, key=lambda name: (-suggestions[name], name))
