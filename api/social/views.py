"""Favourites and comments in the API: thin views over api.social.services and selectors. A
photo someone may not see answers 404 here as everywhere, so its comments cannot leak."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView

from api.accounts.selectors import signed_in_user
from api.errors import refusals_as_400
from api.photos.models import Photo
from api.photos.selectors import viewable_photo
from api.photos.serializers import PhotoSerializer
from api.photos.views import photo_for, with_tags
from api.social import selectors, services
from api.social.models import Comment
from api.social.serializers import (
    CommentSerializer,
    CommentWriteSerializer,
    FavouriteSerializer,
    PersonSerializer,
    ProfileUpdateSerializer,
)

SHARE = OpenApiParameter("share", str, description="The photo's share token (unlisted photos)")


class FavouriteView(APIView):
    def _answer(self, request: Request, photo: Photo, code: int = status.HTTP_200_OK) -> Response:
        data = {"favourited": selectors.has_favourited(request.user, photo),
                "favourites": selectors.favourite_count(photo)}  # fmt: skip
        return Response(FavouriteSerializer(data).data, status=code)

    @extend_schema(parameters=[SHARE], request=None, responses=FavouriteSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Adds the photo to your favourites (again is fine)."""
        user = signed_in_user(request, to="keep favourites")
        photo = photo_for(request, pk)
        services.favourite(user=user, photo=photo)
        return self._answer(request, photo)

    @extend_schema(parameters=[SHARE], request=None, responses=FavouriteSerializer)
    def delete(self, request: Request, pk: int) -> Response:
        user = signed_in_user(request, to="keep favourites")
        photo = photo_for(request, pk)
        services.unfavourite(user=user, photo=photo)
        return self._answer(request, photo)


class MyFavouritesView(generics.ListAPIView):
    """Your favourite photos that you may still see, newest photo first."""

    serializer_class = PhotoSerializer

    def get_queryset(self) -> QuerySet[Photo]:
        return with_tags(selectors.my_favourites(signed_in_user(self.request, to="see your favourites")))


class PhotoCommentsView(generics.ListCreateAPIView):
    serializer_class = CommentSerializer
    throttle_scope = "comments"

    def get_throttles(self) -> list[BaseThrottle]:
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    def get_queryset(self) -> QuerySet[Comment]:
        return selectors.comments_on(photo_for(self.request, int(self.kwargs["pk"]))).order_by("-id")

    @extend_schema(parameters=[SHARE])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        """A photo's comments, newest first."""
        return super().get(request, *args, **kwargs)

    @extend_schema(parameters=[SHARE], request=CommentWriteSerializer, responses={201: CommentSerializer})
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        author = signed_in_user(request, to="comment")
        photo = photo_for(request, int(self.kwargs["pk"]))
        form = CommentWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        with refusals_as_400(services.CommentRejected):
            comment = services.add_comment(author=author, photo=photo, text=form.validated_data["body"])
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class CommentDetailView(APIView):
    def _comment(self, request: Request, pk: int) -> Comment:
        comment = Comment.objects.select_related("photo", "author").filter(pk=pk).first()
        if (
            comment is None
            or viewable_photo(request.user, comment.photo_id, request.query_params.get("share")) is None
        ):
            raise Http404("No comment with this id, or its photo is not shared with you.")
        return comment

    @extend_schema(parameters=[SHARE], request=CommentWriteSerializer, responses=CommentSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        """Its author edits it."""
        user = signed_in_user(request, to="edit comments")
        comment = self._comment(request, pk)
        form = CommentWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        with refusals_as_400(services.CommentRejected):
            services.edit_comment(user=user, comment=comment, text=form.validated_data["body"])
        return Response(CommentSerializer(comment).data)

    @extend_schema(parameters=[SHARE], request=None, responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        """Its author, or the photo's owner, deletes it."""
        user = signed_in_user(request, to="delete comments")
        services.delete_comment(user=user, comment=self._comment(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _card(request: Request, username: str) -> Response:
    card = selectors.person_card(request.user, username)
    if card is None:
        raise Http404(f"There is nobody called {username!r} here.")
    return Response(PersonSerializer(card, context={"request": request}).data)


class PersonView(APIView):
    @extend_schema(responses=PersonSerializer)
    def get(self, request: Request, username: str) -> Response:
        """A person's profile: bio, avatar, public photos, followers and following."""
        return _card(request, username)


class FollowView(APIView):
    @extend_schema(request=None, responses=PersonSerializer)
    def post(self, request: Request, username: str) -> Response:
        """Follow them: their public photos come into your following feed."""
        follower = signed_in_user(request, to="follow people")
        with _refusals():
            services.follow(follower=follower, username=username)
        return _card(request, username)

    @extend_schema(request=None, responses=PersonSerializer)
    def delete(self, request: Request, username: str) -> Response:
        follower = signed_in_user(request, to="follow people")
        with _refusals():
            services.unfollow(follower=follower, username=username)
        return _card(request, username)


class MyProfileView(APIView):
    @extend_schema(responses=PersonSerializer)
    def get(self, request: Request) -> Response:
        return _card(request, signed_in_user(request, to="see your profile").username)

    @extend_schema(request=ProfileUpdateSerializer, responses=PersonSerializer)
    def patch(self, request: Request) -> Response:
        """Your bio, and one of your public photos as your avatar."""
        user = signed_in_user(request, to="edit your profile")
        form = ProfileUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        changes = dict(form.validated_data)
        avatar = changes.pop("avatar", False)
        with _refusals():
            services.update_profile(user=user, avatar=avatar, **changes)
        return _card(request, user.username)


class FollowingFeedView(generics.ListAPIView):
    """Public photos of the people you follow, newest first."""

    serializer_class = PhotoSerializer

    def get_queryset(self) -> QuerySet[Photo]:
        return with_tags(selectors.following_feed(signed_in_user(self.request, to="see whom you follow")))


@contextmanager
def _refusals() -> Iterator[None]:
    """Nobody by that name is a 404; any other refusal a 400 in the service's words."""
    try:
        with refusals_as_400(services.CommentRejected):
            yield
    except services.PersonNotFound as error:
        raise Http404(str(error)) from None
