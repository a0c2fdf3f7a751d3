from django.conf import settings
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class NewestFirstCursorPagination(CursorPagination):
    """Stable under new uploads (infinite scroll never shows a photo twice); ids grow with time."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int | None:
        # Read at request time: DRF's class attribute is frozen when the class is first imported.
        self.page_size = int(settings.REST_FRAMEWORK["PAGE_SIZE"])  # type: ignore[call-overload]
        return super().get_page_size(request)
