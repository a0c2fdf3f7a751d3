from django.conf import settings
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


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
