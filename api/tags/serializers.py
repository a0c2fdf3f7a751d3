from rest_framework import serializers

from api.tags.models import PhotoTag
from api.validation import StrictSerializer


class PhotoTagSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="tag.name")
    added_by = serializers.CharField(source="added_by.username", read_only=True, allow_null=True)
    confirmations = serializers.IntegerField(read_only=True, default=0)
    rejections = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = PhotoTag
        fields = [
            "name",
            "source",
            "state",
            "score",
            "model_version",
            "added_by",
            "confirmations",
            "rejections",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class MatchedTagSerializer(serializers.ModelSerializer):
    """How a searched tag stands on a photo: confirmed by people, or still a suggestion (a
    person's, or the model's with its score)."""

    name = serializers.CharField(source="tag.name")

    class Meta:
        model = PhotoTag
        fields = ["name", "state", "source", "score"]
        read_only_fields = fields


class TagNameSerializer(StrictSerializer):
    name = serializers.CharField(
        max_length=1000, help_text="Letters, digits, '_' and '-'; a leading '#' is dropped"
    )


class TagSearchResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    photo_count = serializers.IntegerField()
