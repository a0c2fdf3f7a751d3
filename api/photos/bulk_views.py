"""``POST /api/photos/bulk/``: a thin view over :mod:`api.photos.bulk`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.accounts.selectors import signed_in_user
from api.albums.services import AlbumRejected
from api.errors import refusals_as_400
from api.photos import bulk
from api.photos.models import Visibility
from api.photos.services import PhotoRejected
from api.validation import StrictSerializer


class BulkRequestSerializer(StrictSerializer):
    photos = serializers.ListField(
        child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=bulk.MAX_PHOTOS
    )
    action = serializers.ChoiceField(choices=bulk.ACTIONS)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    album = serializers.IntegerField(min_value=1, required=False)


class BulkOutcomeSerializer(serializers.Serializer):
    photo = serializers.IntegerField()
    done = serializers.BooleanField()
    detail = serializers.CharField()


class BulkResultSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    refused = serializers.IntegerField()
    results = BulkOutcomeSerializer(many=True)


class PhotoBulkView(APIView):
    @extend_schema(request=BulkRequestSerializer, responses=BulkResultSerializer)
    def post(self, request: Request) -> Response:
        """Changes the visibility of, deletes, or adds to an album up to 200 of your photos at
        once. Each photo is answered on its own: one that is not yours is named with the reason,
        and the others still go through."""
        user = signed_in_user(request, to="change photos")
        form = BulkRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        wanted = form.validated_data
        with refusals_as_400(bulk.BulkRejected, PhotoRejected, AlbumRejected):
            outcomes = bulk.apply(
                user=user,
                photo_ids=wanted["photos"],
                action=wanted["action"],
                visibility=wanted.get("visibility"),
                album_id=wanted.get("album"),
            )
        done = sum(o.done for o in outcomes)
        body = {"done": done, "refused": len(outcomes) - done, "results": outcomes}
        return Response(BulkResultSerializer(body).data)
