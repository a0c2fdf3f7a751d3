from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.albums.models import Album, Role
from api.albums.services import MAX_PHOTOS_PER_REQUEST, TITLE_MAX_LENGTH
from api.photos.links import file_url
from api.photos.models import Visibility
from api.validation import StrictSerializer


class AlbumSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    cover_url = serializers.SerializerMethodField()
    photo_count = serializers.IntegerField(source="seen_count", read_only=True,
                                           help_text="The photos in it the viewer may see")  # fmt: skip
    share_url = serializers.SerializerMethodField()
    role = serializers.ChoiceField(source="viewer_role", choices=["owner", *Role.values], allow_null=True,
                                   read_only=True, help_text="What the viewer is in this album")  # fmt: skip

    class Meta:
        model = Album
        fields = ["id", "owner", "title", "description", "visibility", "cover_url", "photo_count",
                  "share_url", "role", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_cover_url(self, album: Album) -> str | None:
        """The cover's thumbnail, only when the viewer may see that photo. The album comes with
        the facts a list shows (``selectors.with_page_facts``): the views serialize no other."""
        if album.cover is None or not album.cover_seen:  # type: ignore[attr-defined]
            return None
        return file_url(album.cover, "grid")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_share_url(self, album: Album) -> str | None:
        """The album's share link, shown only to its owner while it is unlisted."""
        request = self.context["request"]
        if album.visibility != Visibility.UNLISTED or album.owner_id != getattr(request.user, "pk", None):
            return None
        return request.build_absolute_uri(f"/api/albums/{album.pk}/?share={album.share_token}")


class AlbumCreateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=TITLE_MAX_LENGTH)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    visibility = serializers.ChoiceField(choices=Visibility.choices, default=Visibility.PRIVATE)


class AlbumUpdateSerializer(StrictSerializer):
    title = serializers.CharField(required=False, max_length=TITLE_MAX_LENGTH)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    cover = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                     help_text="A photo of the album; null clears the cover")  # fmt: skip


class AlbumPhotosSerializer(StrictSerializer):
    photos = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1,
                                   max_length=MAX_PHOTOS_PER_REQUEST, help_text="Photo ids")  # fmt: skip


class AlbumMemberSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class AlbumMemberRemoveSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)


class MemberSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.CharField()
