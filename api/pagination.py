from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    """Stable under new uploads (infinite scroll never shows a photo twice); ids grow with time."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 100
