from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from api.photos.models import Photo
from api.photos.selectors import listed_photos


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "visibility", "status", "model_version", "width", "height", "created_at")
    list_filter = ("visibility", "status")
    search_fields = ("caption", "owner__username", "content_hash")
    readonly_fields = ("content_hash", "share_token", "created_at", "updated_at")
    # Where a photo was taken is its owner's to show (show_location), staff included.
    exclude = ("latitude", "longitude")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Photo]:
        # Private photos are their owner's alone and unlisted ones go only by their share link,
        # so staff see here what the feed shows them: public photos and their own.
        return super().get_queryset(request).filter(pk__in=listed_photos(request.user).values("pk"))
