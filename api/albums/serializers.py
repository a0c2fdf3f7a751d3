from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.albums import selectors
from api.albums.models import Album, Role
from api.albums.services import MAX_PHOTOS_PER_REQUEST, TITLE_MAX_LENGTH
from api.photos.links import file_url
from api.photos.models import Visibility
from api.photos.selectors import User
from api.validation import StrictSerializer


class AlbumSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    cover_url = serializers.SerializerMethodField()
    photo_count = serializers.SerializerMethodField()
    share_url = serializers.SerializerMethodField()
    role = serializers.SerializerMethodField()

    class Meta:
        model = Album
        fields = ["id", "owner", "title", "description", "visibility", "cover_url", "photo_count",
                  "share_url", "role", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = fields

    def _viewer(self) -> User:
        viewer: User = self.context["request"].user
        return viewer

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_cover_url(self, album: Album) -> str | None:
        """The cover's thumbnail, only when the viewer may see that photo."""
        if hasattr(album, "cover_seen"):  # a list's album: with_page_facts answered already
            cover = album.cover if album.cover_seen else None
        else:
            cover = selectors.visible_cover(self._viewer(), album)
        return None if cover is None else file_url(cover, "grid")

    def get_photo_count(self, album: Album) -> int:
        """The photos in it the viewer may see."""
        if hasattr(album, "seen_count"):
            return int(album.seen_count)
        return selectors.album_photos(self._viewer(), album).count()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_share_url(self, album: Album) -> str | None:
        """The album's share link, shown only to its owner while it is unlisted."""
        request = self.context["request"]
        if album.visibility != Visibility.UNLISTED or album.owner_id != getattr(request.user, "pk", None):
            return None
        return request.build_absolute_uri(f"/api/albums/{album.pk}/?share={album.share_token}")

    @extend_schema_field(serializers.ChoiceField(choices=["owner", *Role.values], allow_null=True))
    def get_role(self, album: Album) -> str | None:
        """What the viewer is in this album: owner, contributor, viewer, or nothing."""
        if hasattr(album, "viewer_role"):
            return album.viewer_role  # type: ignore[no-any-return]
        return selectors.role_of(self._viewer(), album)


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
