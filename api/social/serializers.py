from __future__ import annotations

from rest_framework import serializers

from api.social.models import Comment
from api.social.services import COMMENT_MAX_LENGTH
from api.validation import StrictSerializer


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)
    edited = serializers.SerializerMethodField()

    class Meta:
        model = Comment
        fields = ["id", "photo", "author", "body", "created_at", "updated_at", "edited"]
        read_only_fields = fields

    def get_edited(self, comment: Comment) -> bool:
        """Whether its author changed it after posting."""
        return (comment.updated_at - comment.created_at).total_seconds() > 1


class CommentWriteSerializer(StrictSerializer):
    body = serializers.CharField(max_length=COMMENT_MAX_LENGTH * 2, allow_blank=True,
                                 help_text="Plain text; control characters are dropped")  # fmt: skip


class FavouriteSerializer(serializers.Serializer):
    favourited = serializers.BooleanField(help_text="Whether you have this photo among your favourites")
    favourites = serializers.IntegerField(help_text="How many people have")
