from __future__ import annotations

import mimetypes
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle

from api import volume
from api.accounts.selectors import signed_in_user
from api.pagination import KeysetCursorPagination
from api.photos import selectors, services
from api.photos.models import Photo
from api.photos.serializers import (
    PhotoFilterSerializer,
    PhotoSerializer,
    PhotoUpdateSerializer,
    PhotoUploadSerializer,
)
from api.social.selectors import with_favourite_counts
from api.tagging.similarity import similar_photos
from api.tags.selectors import with_their_tags
from api.tags.services import TagRejected, search_words
from api.tags.services import normalise as normalise_tag


def photo_for(request: Request, pk: int) -> Photo:
    """The photo if the requester may open it (with the ``share`` token they came with), else a
    404 that does not say whether it exists."""
    photo = selectors.viewable_photo(request.user, pk, request.query_params.get("share"))
    if photo is None:
        raise Http404("No photo with this id, or it is not shared with you.")
    return photo


def with_tags(photos: QuerySet[Photo]) -> QuerySet[Photo]:
    """Photos as the API shows them: with their tags and their number of favourites."""
    return with_favourite_counts(photos.prefetch_related(with_their_tags()))


class PhotoViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = PhotoSerializer
    # A tag search is ordered by more than the id (confirmed first; see search_photos).
    pagination_class = KeysetCursorPagination
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    # Ids are digits; anything else is a 404 at the router, not an int() error in the view (found
    # by the fuzz test: GET /api/photos/:/ was a 500).
    lookup_value_regex = r"[0-9]+"
    throttle_scope = "uploads"

    def get_throttles(self) -> list[BaseThrottle]:
        return [ScopedRateThrottle()] if self.action == "create" else []

    def get_queryset(self) -> QuerySet[Photo]:
        if self.action == "list":
            filters = PhotoFilterSerializer(
                data={**self.request.query_params.dict(), "tag": self.request.query_params.getlist("tag")}
            )
            filters.is_valid(raise_exception=True)
            wanted = filters.validated_data
            try:
                tags = [normalise_tag(t) for t in wanted["tag"]]
            except TagRejected as error:
                raise ValidationError({"tag": [str(error)]}) from None
            photos = selectors.search_photos(
                self.request.user,
                tags=tags,
                tag_state=wanted["tag_state"],
                owner=wanted.get("owner"),
                status=wanted.get("status"),
                text=wanted.get("q"),
                words=search_words(wanted.get("search", "")),
            )
            return with_tags(photos)
        return with_tags(Photo.objects.select_related("owner"))

    def get_object(self) -> Photo:
        photo = photo_for(self.request, int(self.kwargs["pk"]))
        return with_tags(Photo.objects.filter(pk=photo.pk).select_related("owner")).get()

    def _owned_object(self) -> Photo:
        photo = self.get_object()
        if not services.is_owner(self.request.user, photo):
            raise PermissionDenied("Only the owner can change or delete this photo.")
        return photo

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "tag",
                str,
                many=True,
                description="Every tag must match. Photos whose tags people confirmed come first, "
                "then people's suggestions, then the model's by their score; each photo's "
                "matched_tags says how its searched tags stand.",
            ),
            OpenApiParameter(
                "tag_state",
                str,
                enum=selectors.TagStateFilter.values,
                default=selectors.TagStateFilter.ANY,
                description="Which tags the tag search counts: 'confirmed' only tags people "
                "confirmed (the model's unconfirmed guesses are left out), 'any' suggestions "
                "too. Applies to the tags named by tag.",
            ),
            OpenApiParameter("owner", str),
            OpenApiParameter("status", str, enum=["pending", "tagged", "failed"]),
            OpenApiParameter("q", str, description="Words in the caption"),
            OpenApiParameter(
                "search",
                str,
                description="The website's search box: each word must be one of the photo's live "
                "tags (as tag_state counts them) or be in its caption. Photos tagged with every "
                "word come first, ranked as a tag search; then those found by their caption.",
            ),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": PhotoUploadSerializer}, responses={201: PhotoSerializer})
    def create(self, request: Request) -> Response:
        signed_in_user(request, to="upload photos")
        form = PhotoUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["image"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            # Refuse before reading a huge file into memory.
            return _bad_request(
                f"The file is {upload.size / 1048576:.1f} MB; "
                f"the limit is {settings.MAX_UPLOAD_BYTES / 1048576:.1f} MB."
            )
        try:
            photo = services.upload_photo(
                owner=signed_in_user(request),
                data=upload.read(),
                caption=form.validated_data["caption"],
                visibility=form.validated_data["visibility"],
                tag_names=form.validated_data["tags"],
                show_location=form.validated_data["show_location"],
            )
        except services.DuplicatePhoto as duplicate:
            return Response(
                {"detail": str(duplicate), "existing_id": duplicate.existing.pk},
                status=status.HTTP_409_CONFLICT,
            )
        except (services.PhotoRejected, TagRejected) as error:
            return _bad_request(str(error))
        except services.StorageFailed as error:
            return Response({"detail": str(error)}, status=status.HTTP_507_INSUFFICIENT_STORAGE)
        photo = with_tags(Photo.objects.filter(pk=photo.pk).select_related("owner")).get()
        return Response(self.get_serializer(photo).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PhotoUpdateSerializer, responses=PhotoSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        photo = self._owned_object()
        # partial: a form-encoded edit that leaves out show_location must not read it as "off".
        form = PhotoUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        try:
            services.update_photo(photo=photo, **form.validated_data)
        except services.PhotoRejected as error:
            return _bad_request(str(error))
        return Response(self.get_serializer(self.get_object()).data)

    def destroy(self, request: Request, pk: str) -> Response:
        services.delete_photo(photo=self._owned_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[OpenApiParameter("limit", int, description="At most this many (1-50, default 12)")],
        responses=PhotoSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def similar(self, request: Request, pk: str) -> Response:
        """Nearest photos by embedding, among those the viewer may find in a gallery."""
        photo = self.get_object()
        raw = request.query_params.get("limit", "12")
        if not raw.isdigit() or not 1 <= int(raw) <= 50:
            return _bad_request("limit must be a whole number from 1 to 50.")
        found = similar_photos(viewer=request.user, photo=photo, limit=int(raw), prepare=with_tags)
        return Response(self.get_serializer(found, many=True).data)


def _bad_request(message: str) -> Response:
    return Response({"detail": message}, status=status.HTTP_400_BAD_REQUEST)


def photo_file(request: HttpRequest, pk: int, kind: str) -> HttpResponseBase:
    """Originals and thumbnails, always through the permission check. Behind nginx the bytes go
    out via X-Accel-Redirect from an internal-only location; otherwise Django streams them."""
    photo = selectors.viewable_photo(request.user, pk, request.GET.get("s"))
    if photo is None:
        raise Http404("No such photo")
    if kind == "original":
        path = volume.original_path(photo.content_hash, photo.file_ext)
        content_type = photo.mime_type
    elif kind in volume.THUMB_SIZES:
        path = volume.thumb_path(photo.content_hash, kind)  # type: ignore[arg-type]
        content_type = "image/jpeg"
    else:
        raise Http404("No such file")
    cache = "public, max-age=86400" if photo.visibility == "public" else "private, max-age=3600"
    response: HttpResponseBase
    if settings.SERVE_FILES_WITH_NGINX:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = f"/protected/{volume.relative(path)}"
    else:
        if not path.exists():
            raise Http404("The file is missing")
        response = FileResponse(
            path.open("rb"), content_type=content_type or mimetypes.guess_type(path.name)[0]
        )
    response["Cache-Control"] = cache
    response["X-Content-Type-Options"] = "nosniff"
    return response
