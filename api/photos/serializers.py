from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.photos.links import file_token, file_url, share_url
from api.photos.models import Photo, TaggingStatus, Visibility
from api.photos.selectors import UNKNOWN_TAG_STATE, TagStateFilter, visible_location
from api.photos.services import CAPTION_MAX_LENGTH
from api.tags.serializers import MatchedTagSerializer, PhotoTagSerializer
from api.validation import StrictSerializer


class PhotoSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    display_url = serializers.SerializerMethodField()
    share_url = serializers.SerializerMethodField()
    latitude = serializers.SerializerMethodField()
    longitude = serializers.SerializerMethodField()
    favourites = serializers.SerializerMethodField()
    # A nested serializer, built once per list, not once per photo (the feed's hot spot).
    tags = PhotoTagSerializer(source="photo_tags", many=True, read_only=True)
    # Filled by the tag search (api.photos.selectors.search_photos); empty in any other list.
    matched_tags = MatchedTagSerializer(
        many=True,
        read_only=True,
        default=list,
        help_text="When searching by tag: how each searched tag stands on this photo. "
        "state 'confirmed' means people vouched for it; 'suggested' with source 'model' is the "
        "model's guess, with its score (0-1). Empty when no tag is searched.",
    )

    class Meta:
        model = Photo
        fields = [
            "id",
            "owner",
            "caption",
            "visibility",
            "status",
            "status_reason",
            "width",
            "height",
            "taken_at",
            "latitude",
            "longitude",
            "show_location",
            "favourites",
            "image_url",
            "thumbnail_url",
            "display_url",
            "share_url",
            "model_version",
            "tags",
            "matched_tags",
            "created_at",
        ]
        read_only_fields = fields

    def _token(self, photo: Photo) -> str | None:
        request = self.context.get("request")
        if request is None:
            return None
        offered = request.query_params.get("share") if hasattr(request, "query_params") else None
        return file_token(request.user, photo, offered)

    def _location(self, photo: Photo) -> tuple[float, float] | None:
        request = self.context.get("request")
        viewer = getattr(request, "user", None)
        return visible_location(viewer, photo) if viewer is not None else None

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_latitude(self, photo: Photo) -> float | None:
        """Where it was taken (EXIF GPS): shown to the owner, and to others only if show_location."""
        location = self._location(photo)
        return location[0] if location else None

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_longitude(self, photo: Photo) -> float | None:
        location = self._location(photo)
        return location[1] if location else None

    def get_favourites(self, photo: Photo) -> int:
        """How many people have it among their favourites."""
        counted = getattr(photo, "favourite_count", None)
        return int(counted) if counted is not None else photo.favourites.count()

    def get_image_url(self, photo: Photo) -> str:
        return file_url(photo, "original", self._token(photo))

    def get_thumbnail_url(self, photo: Photo) -> str:
        return file_url(photo, "grid", self._token(photo))

    def get_display_url(self, photo: Photo) -> str:
        return file_url(photo, "display", self._token(photo))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_share_url(self, photo: Photo) -> str | None:
        """The share link, shown only to the owner of an unlisted photo."""
        request = self.context.get("request")
        return share_url(request, photo) if request is not None else None


class PhotoUploadSerializer(StrictSerializer):
    image = serializers.FileField(allow_empty_file=True, help_text="JPEG, PNG, WebP or GIF")
    caption = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=CAPTION_MAX_LENGTH
    )
    visibility = serializers.ChoiceField(choices=Visibility.choices, default=Visibility.PUBLIC)
    tags = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=1000),
        required=False,
        default=list,
        help_text="Tag names, repeated or comma-separated",
    )
    show_location = serializers.BooleanField(
        required=False, default=False, help_text="Show where the photo was taken (EXIF GPS) to others"
    )


class PhotoUpdateSerializer(StrictSerializer):
    caption = serializers.CharField(required=False, allow_blank=True, max_length=CAPTION_MAX_LENGTH)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    show_location = serializers.BooleanField(required=False)


class PhotoFilterSerializer(serializers.Serializer):
    tag = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    tag_state = serializers.ChoiceField(
        choices=TagStateFilter.choices,
        required=False,
        default=TagStateFilter.ANY,
        error_messages={"invalid_choice": UNKNOWN_TAG_STATE},
    )
    owner = serializers.CharField(required=False, max_length=150)
    status = serializers.ChoiceField(choices=TaggingStatus.choices, required=False)
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    search = serializers.CharField(required=False, allow_blank=True, max_length=200)
