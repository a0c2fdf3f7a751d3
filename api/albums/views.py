"""Albums in the API: thin views over api.albums.services (changes) and selectors (reads)."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet
from django.http import Http404, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from api.accounts.selectors import signed_in_user
from api.albums import selectors, services
from api.albums.download import album_zip, zip_name
from api.albums.models import Album, AlbumMember
from api.albums.serializers import (
    AlbumCreateSerializer,
    AlbumMemberRemoveSerializer,
    AlbumMemberSerializer,
    AlbumPhotosSerializer,
    AlbumSerializer,
    AlbumUpdateSerializer,
    MemberSerializer,
)
from api.errors import refusals_as_400
from api.pagination import KeysetCursorPagination
from api.photos.serializers import PhotoSerializer
from api.photos.views import with_tags

SHARE = OpenApiParameter("share", str, description="The album's share link token (unlisted albums)")


class AlbumViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = AlbumSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[Album]:
        # The list's counts, covers and roles come in its one query, not one query per album.
        listed = selectors.listed_albums(self.request.user, owner=self.request.query_params.get("owner"))
        return selectors.with_page_facts(self.request.user, listed)

    def get_object(self) -> Album:
        album = selectors.viewable_album(
            self.request.user, int(self.kwargs["pk"]), self.request.query_params.get("share")
        )
        if album is None:
            raise Http404("No album with this id, or it is not shared with you.")
        return album

    def _answer(self, album: Album, code: int = status.HTTP_200_OK) -> Response:
        """The album as a list shows it, with the facts read afresh (after any change)."""
        facts = selectors.with_page_facts(self.request.user, Album.objects.filter(pk=album.pk)).get()
        return Response(self.get_serializer(facts).data, status=code)

    @extend_schema(parameters=[OpenApiParameter("owner", str, description="Only this person's albums")])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[SHARE])
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._answer(self.get_object())

    @extend_schema(request=AlbumCreateSerializer, responses={201: AlbumSerializer})
    def create(self, request: Request) -> Response:
        owner = signed_in_user(request, to="make albums")
        form = AlbumCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        with refusals_as_400(services.AlbumRejected):
            album = services.create_album(owner=owner, **form.validated_data)
        return self._answer(album, status.HTTP_201_CREATED)

    @extend_schema(request=AlbumUpdateSerializer, responses={200: AlbumSerializer}, parameters=[SHARE])
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        album = self.get_object()
        form = AlbumUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        changes = dict(form.validated_data)
        cover = changes.pop("cover", False)
        with refusals_as_400(services.AlbumRejected):
            services.update_album(user=signed_in_user(request), album=album, cover=cover, **changes)
        return self._answer(album)

    @extend_schema(parameters=[SHARE])
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        album = self.get_object()
        services.delete_album(user=signed_in_user(request), album=album)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], parameters=[SHARE], responses={200: PhotoSerializer(many=True)})
    @extend_schema(methods=["POST"], request=AlbumPhotosSerializer, responses={200: AlbumSerializer})
    @extend_schema(methods=["DELETE"], request=AlbumPhotosSerializer, responses={200: AlbumSerializer})
    @extend_schema(methods=["PATCH"], request=AlbumPhotosSerializer, responses={200: AlbumSerializer},
                   description="Reorder: the photos named come first, in the order given.")  # fmt: skip
    @action(detail=True, methods=["get", "post", "delete", "patch"], url_path="photos",
            pagination_class=KeysetCursorPagination)  # fmt: skip
    def photos(self, request: Request, pk: str) -> Response:
        """GET: the album's photos the viewer may see, in order. POST adds the signed-in person's
        own photos; DELETE removes; PATCH reorders (the owner)."""
        album = self.get_object()
        if request.method == "GET":
            # with_tags: their tags and favourite counts in the page's queries, not one per photo.
            photos = with_tags(
                selectors.album_photos(request.user, album)
                .annotate(album_position=F("album_entries__position"), entry_id=F("album_entries__id"))
                .order_by("album_position", "entry_id")
                .select_related("owner")
            )
            page = self.paginate_queryset(photos)
            return self.get_paginated_response(
                PhotoSerializer(page, many=True, context={"request": request}).data
            )
        form = AlbumPhotosSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        ids: list[int] = form.validated_data["photos"]
        user = signed_in_user(request)
        with refusals_as_400(services.AlbumRejected):
            if request.method == "POST":
                services.add_photos(user=user, album=album, photo_ids=ids)
            elif request.method == "DELETE":
                services.remove_photos(user=user, album=album, photo_ids=ids)
            else:
                services.reorder(user=user, album=album, photo_ids=ids)
        album.refresh_from_db()
        return self._answer(album)

    @extend_schema(methods=["GET"], responses={200: MemberSerializer(many=True)})
    @extend_schema(
        methods=["POST"], request=AlbumMemberSerializer, responses={200: MemberSerializer(many=True)}
    )
    @extend_schema(methods=["DELETE"], request=AlbumMemberRemoveSerializer,
                   responses={200: MemberSerializer(many=True)})  # fmt: skip
    @action(detail=True, methods=["get", "post", "delete"], url_path="members", pagination_class=None)
    def members(self, request: Request, pk: str) -> Response:
        """GET: who is in the album (its owner and members see this). POST invites by username
        (the owner); DELETE removes a member (the owner), or yourself."""
        album = self.get_object()
        if selectors.role_of(request.user, album) is None:
            raise PermissionDenied("Only the album's owner and members see who is in it.")
        if request.method != "GET":
            user = signed_in_user(request)
            if request.method == "POST":
                form = AlbumMemberSerializer(data=request.data)
                form.is_valid(raise_exception=True)
                with refusals_as_400(services.AlbumRejected):
                    services.invite(user=user, album=album, **form.validated_data)
            else:
                leaving = AlbumMemberRemoveSerializer(data=request.data)
                leaving.is_valid(raise_exception=True)
                services.remove_member(user=user, album=album, username=leaving.validated_data["username"])
        members = AlbumMember.objects.filter(album=album).select_related("user").order_by("user__username")
        return Response(MemberSerializer(members, many=True).data)

    @extend_schema(parameters=[SHARE], responses={(200, "application/zip"): bytes})
    @action(detail=True, methods=["get"], url_path="download", pagination_class=None)
    def download(self, request: Request, pk: str) -> StreamingHttpResponse:
        """The album's photos you may see, originals in the album's order, as one ZIP (streamed)."""
        album = self.get_object()
        response = StreamingHttpResponse(album_zip(request.user, album), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{zip_name(album)}"'
        response["Cache-Control"] = "private, no-store"
        return response
