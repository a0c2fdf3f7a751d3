"""Notifications in the API: one's own only, newest first, marked read on request."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.accounts.selectors import signed_in_user
from api.notifications import selectors, services
from api.notifications.models import Notification
from api.validation import StrictSerializer


class NotificationSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username")
    text = serializers.SerializerMethodField()
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "actor", "photo", "album", "detail", "text", "created_at", "read"]
        read_only_fields = fields

    def get_text(self, item: Notification) -> str:
        """In words: "bob commented on your photo"."""
        return f"{item.actor.username} {item.get_kind_display()}"

    def get_read(self, item: Notification) -> bool:
        return item.read_at is not None


class MarkReadSerializer(StrictSerializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=500,
        help_text="The notifications to mark read; all of yours when left out",
    )


class UnreadSerializer(serializers.Serializer):
    unread = serializers.IntegerField()


class NotificationList(generics.ListAPIView):
    serializer_class = NotificationSerializer

    def get_queryset(self) -> QuerySet[Notification]:
        me = signed_in_user(self.request, to="see your notifications")
        mine = selectors.notifications_for(me)
        return mine.filter(read_at__isnull=True) if self.request.query_params.get("unread") == "1" else mine

    @extend_schema(parameters=[OpenApiParameter("unread", str, enum=["1"], description="Only unread ones")])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        """Your notifications, newest first."""
        return super().get(request, *args, **kwargs)


class MarkRead(APIView):
    @extend_schema(request=MarkReadSerializer, responses=UnreadSerializer)
    def post(self, request: Request) -> Response:
        """Marks some or all of your notifications read; answers how many stay unread."""
        me = signed_in_user(request, to="see your notifications")
        form = MarkReadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.mark_read(recipient=me, ids=form.validated_data.get("ids"))
        return Response({"unread": selectors.unread_count(me)})
