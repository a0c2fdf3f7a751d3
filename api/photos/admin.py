from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from api.photos.links import file_url
from api.photos.models import Photo
from api.photos.selectors import listed_photos


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    list_display = ("id", "thumbnail", "owner_name", "short_caption", "visibility", "status", "model_version",
                    "created_at")  # fmt: skip
    list_select_related = ("owner",)
    list_filter = ("visibility", "status")
    search_fields = ("caption", "owner__username", "content_hash")
    # near_duplicate_of read-only: its chooser would list every photo, private ones included.
    readonly_fields = ("content_hash", "share_token", "near_duplicate_of", "created_at", "updated_at")
    # Where a photo was taken is its owner's to show (show_location), staff included.
    exclude = ("latitude", "longitude")

    @admin.display(description="photo")
    def thumbnail(self, photo: Photo) -> str:
        return format_html(
            '<img src="{}" alt="" width="64" loading="lazy">', file_url(photo, "grid", photo.share_token)
        )

    @admin.display(description="owner", ordering="owner__username")
    def owner_name(self, photo: Photo) -> str:
        return photo.owner.username

    @admin.display(description="caption")
    def short_caption(self, photo: Photo) -> str:
        return photo.caption[:60]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A photo is made by an upload (decode, thumbnails, stored file), never by a raw form.
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Photo]:
        # Private photos are their owner's alone and unlisted ones go only by their share link,
        # so staff see here what the feed shows them: public photos and their own.
        return super().get_queryset(request).filter(pk__in=listed_photos(request.user).values("pk"))
