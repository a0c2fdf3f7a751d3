"""Paging that never shows a row twice: the API's cursors and the website's "more" links both
position on the full sort key of the last row shown (keyset paging)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db.models import Model, Q, QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.views import APIView

NEWEST_FIRST = ("-id",)

Position = tuple[int | float, ...]


def page_size() -> int:
    """Read at request time: DRF's class attribute is frozen when the class is first imported,
    and the website pages by the same setting."""
    return int(settings.REST_FRAMEWORK["PAGE_SIZE"])  # type: ignore[call-overload]


class NewestFirstCursorPagination(CursorPagination):
    """Stable under new uploads (infinite scroll never shows a photo twice); ids grow with time."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int | None:
        self.page_size = page_size()
        return super().get_page_size(request)


# ---------------------------------------------------------------- keyset paging on a compound order


def sort_keys(queryset: QuerySet[Any]) -> tuple[str, ...]:
    """The queryset's own order, or newest first. Each key is a field or an annotation holding a
    number, and the last one is unique, so a position names exactly one row."""
    keys = tuple(queryset.query.order_by) or NEWEST_FIRST
    names = tuple(key for key in keys if isinstance(key, str))
    if names != keys:
        raise TypeError(f"Keyset paging needs field names to order by, not {keys!r}")
    return names


def position_of(row: Model, keys: Sequence[str]) -> str:
    """The row's sort key as it travels in a URL: ``0,0.74,1234``. Floats are written by repr,
    which reads back to the same float, so the next page starts exactly after this row."""
    values = (getattr(row, key.lstrip("-")) for key in keys)
    return ",".join(repr(value) if isinstance(value, float) else str(int(value)) for value in values)


def parse_position(raw: str, keys: Sequence[str]) -> Position | None:
    """A position written by :func:`position_of` for these keys, or None for anything else."""
    parts = raw.split(",") if raw else []
    if len(parts) != len(keys):
        return None
    values: list[int | float] = []
    for part in parts:
        try:
            values.append(int(part))
        except ValueError:
            try:
                number = float(part)
            except ValueError:
                return None
            if not math.isfinite(number):
                return None
            values.append(number)
    return tuple(values)


def beyond(keys: Sequence[str], position: Position, *, backwards: bool = False) -> Q:
    """Rows after ``position`` in the order ``keys`` (before it when ``backwards``): a row
    comparison spelt out key by key, because each key may run either way."""
    after, tied = Q(), Q()
    for key, value in zip(keys, position, strict=True):
        name = key.lstrip("-")
        falling = key.startswith("-") != backwards
        after |= tied & Q(**{f"{name}__{'lt' if falling else 'gt'}": value})
        tied &= Q(**{name: value})
    return after


def reversed_keys(keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(key[1:] if key.startswith("-") else f"-{key}" for key in keys)


class KeysetCursorPagination(NewestFirstCursorPagination):
    """DRF's cursors, positioned on the queryset's whole sort key. Tag search orders photos by how
    far people vouched for the tag before their age, so thousands of photos share the first key;
    DRF positions on the first key alone and walks ties by an offset it caps at 1,000
    (``offset_cutoff``), past which pages would repeat. The links look like DRF's, and for the
    plain newest-first feed they are the same links."""

    def paginate_queryset(
        self, queryset: QuerySet[Any] | Sequence[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        if not isinstance(queryset, QuerySet):
            raise TypeError("Keyset paging pages through a queryset")
        self.request = request
        self.page_size = self.get_page_size(request)
        if not self.page_size:
            return None
        self.base_url = request.build_absolute_uri()
        self.keys = sort_keys(queryset)
        self.cursor = self.decode_cursor(request)
        backwards = bool(self.cursor and self.cursor.reverse)
        # A string, whatever the stubs say: DRF reads it from the cursor's query string.
        self.position = (
            None if self.cursor is None or self.cursor.position is None else str(self.cursor.position)
        )
        if self.position is not None:
            position = parse_position(self.position, self.keys)
            if position is None:
                raise NotFound(self.invalid_cursor_message)
            queryset = queryset.filter(beyond(self.keys, position, backwards=backwards))
        ordering = reversed_keys(self.keys) if backwards else self.keys
        rows = list(queryset.order_by(*ordering)[: self.page_size + 1])
        more = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        # A cursor came from a page on its side, so that side has rows (unless they were deleted).
        came_from_a_page = self.position is not None
        if backwards:
            self.page.reverse()
            self.has_next, self.has_previous = came_from_a_page, more
        else:
            self.has_next, self.has_previous = more, came_from_a_page
        self.display_page_controls = self.has_next or self.has_previous  # the browsable API's links
        return self.page

    def _link(self, *, reverse: bool) -> str | None:
        if not (self.has_previous if reverse else self.has_next):
            return None
        position: str | None
        if self.page:
            position = position_of(self.page[0] if reverse else self.page[-1], self.keys)
        else:
            position = self.position  # an emptied page: turn back from where it started
        # The stubs type the position as an int; DRF writes it into the cursor as the string it is.
        return self.encode_cursor(Cursor(offset=0, reverse=reverse, position=position))  # type: ignore[arg-type]

    def get_next_link(self) -> str | None:
        return self._link(reverse=False)

    def get_previous_link(self) -> str | None:
        return self._link(reverse=True)
