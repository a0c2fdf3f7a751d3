from django.contrib import admin

from api.photos.models import Photo


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "visibility", "status", "model_version", "width", "height", "created_at")
    list_filter = ("visibility", "status")
    search_fields = ("caption", "owner__username", "content_hash")
    readonly_fields = ("content_hash", "share_token", "created_at", "updated_at")
