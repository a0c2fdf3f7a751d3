from django.contrib import admin

from api.tags.models import PhotoTag, Tag, TagVote


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ("name",)


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
