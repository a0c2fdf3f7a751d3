"""ImageNet's 1,000 classes as readable tags for the day-zero model."""

from __future__ import annotations

import re


def readable_tag(name: str) -> str:
    """'great white shark' -> 'great_white_shark', "jack-o'-lantern" -> 'jack-o-lantern': the same
    rule people's tags follow (lowercase, letters/digits/_/-)."""
    tag = re.sub(r"\s+", "_", name.strip().lower())
    tag = re.sub(r"[^\w-]", "", tag)
    return re.sub(r"-{2,}", "-", tag)


def imagenet_tags() -> tuple[list[str], list[int]]:
    """Unique tag names and, for each of the 1,000 classes, the index of its tag. A few names
    repeat in ImageNet (two kinds of 'crane', two 'maillot'); their probabilities add up."""
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    tags: list[str] = []
    class_to_tag: list[int] = []
    for category in _IMAGENET_CATEGORIES:
        tag = readable_tag(category)
        if tag not in tags:
            tags.append(tag)
        class_to_tag.append(tags.index(tag))
    return tags, class_to_tag
