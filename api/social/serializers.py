from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.photos.links import file_url
from api.social.models import Comment
from api.social.selectors import PersonCard
from api.social.services import BIO_MAX_LENGTH, COMMENT_MAX_LENGTH
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


class PersonSerializer(serializers.Serializer):
    username = serializers.CharField()
    bio = serializers.CharField()
    avatar_url = serializers.SerializerMethodField()
    public_photos = serializers.IntegerField()
    followers = serializers.IntegerField()
    following = serializers.IntegerField()
    followed_by_you = serializers.BooleanField()
    joined = serializers.DateTimeField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_avatar_url(self, card: PersonCard) -> str | None:
        return None if card.avatar is None else file_url(card.avatar, "grid")


class ProfileUpdateSerializer(StrictSerializer):
    bio = serializers.CharField(required=False, allow_blank=True, max_length=BIO_MAX_LENGTH * 2)
    avatar = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                      help_text="One of your public photos; null clears it")  # fmt: skip
