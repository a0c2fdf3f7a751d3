from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.accounts.selectors import signed_in_user
from api.photos.views import photo_for
from api.tags import selectors, services
from api.tags.models import PhotoTag, Vote
from api.tags.serializers import PhotoTagSerializer, TagNameSerializer, TagSearchResultSerializer


def _tag_response(photo_tag: PhotoTag | None, *, created: bool = False) -> Response:
    if photo_tag is None:
        return Response(status=status.HTTP_204_NO_CONTENT)
    fresh = selectors.photo_tags_with_votes().get(pk=photo_tag.pk)
    return Response(
        PhotoTagSerializer(fresh).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
    )


def _run(action):  # type: ignore[no-untyped-def]
    """Maps the tag services' refusals to HTTP answers with the services' own words."""
    try:
        return action()
    except services.TagRejected as error:
        return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
    except services.TagNotAllowed as error:
        raise PermissionDenied(str(error)) from None
    except PhotoTag.DoesNotExist as error:
        raise NotFound(str(error)) from None


class PhotoTagsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=TagNameSerializer, responses={201: PhotoTagSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Add a tag: the owner's is confirmed at once, anyone else's is a suggestion."""
        photo = photo_for(request, pk)
        form = TagNameSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        return _run(
            lambda: _tag_response(
                services.add_tag(photo=photo, user=signed_in_user(request), name=form.validated_data["name"]),
                created=True,
            )
        )


class PhotoTagDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: PhotoTagSerializer, 204: None})
    def delete(self, request: Request, pk: int, name: str) -> Response:
        """Remove a tag. The owner removing a tag someone else proposed or vouched for keeps it as
        rejected (200), so the model learns it; the owner's own unvouched tag is deleted (204)."""
        photo = photo_for(request, pk)
        return _run(
            lambda: _tag_response(services.remove_tag(photo=photo, user=signed_in_user(request), name=name))
        )


class PhotoTagVoteView(APIView):
    permission_classes = [IsAuthenticated]
    vote: str = Vote.CONFIRM

    @extend_schema(request=None, responses=PhotoTagSerializer)
    def post(self, request: Request, pk: int, name: str) -> Response:
        photo = photo_for(request, pk)
        return _run(
            lambda: _tag_response(
                services.vote(photo=photo, user=signed_in_user(request), name=name, value=self.vote)
            )
        )


class TagSearchView(APIView):
    permission_classes: list[type] = []

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="Part of a tag name")],
        responses=TagSearchResultSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        """Tag search and autocomplete, with the number of photos you can see for each."""
        query = request.query_params.get("q", "")[:100]
        tags = selectors.search_tags(request.user, query)
        data = [{"name": tag.name, "photo_count": tag.photo_count} for tag in tags]
        return Response({"results": data})
