from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from api.photos.selectors import listed_photos
from api.tags.models import PhotoTag, Tag, TagVote


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tag]:
        # A tag found only on private or unlisted photos would tell staff what those photos show.
        listed = listed_photos(request.user).values("pk")
        shown = Q(photo_tags__photo__in=listed) | Q(photo_tags__isnull=True)
        return super().get_queryset(request).filter(pk__in=Tag.objects.filter(shown).values("pk"))


class TagVoteInline(admin.TabularInline):
    model = TagVote
    extra = 0


@admin.register(PhotoTag)
class PhotoTagAdmin(admin.ModelAdmin):
    list_display = ("photo", "tag", "source", "state", "score", "model_version", "added_by", "updated_at")
    list_filter = ("source", "state")
    search_fields = ("tag__name",)
    raw_id_fields = ("photo", "tag", "added_by")
    inlines = [TagVoteInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PhotoTag]:
        return super().get_queryset(request).filter(photo__in=listed_photos(request.user).values("pk"))
