"""Favourites and comments in the API: thin views over api.social.services and selectors. A
photo someone may not see answers 404 here as everywhere, so its comments cannot leak."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView

from api.accounts.selectors import signed_in_user
from api.photos.models import Photo
from api.photos.selectors import viewable_photo
from api.photos.serializers import PhotoSerializer
from api.photos.views import with_tags
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


def _photo(request: Request, pk: int) -> Photo:
    photo = viewable_photo(request.user, pk, request.query_params.get("share"))
    if photo is None:
        raise Http404("No photo with this id, or it is not shared with you.")
    return photo


def _signed_in(request: Request, what: str) -> None:
    if not request.user.is_authenticated:
        raise NotAuthenticated(f"Sign in to {what}.")


class FavouriteView(APIView):
    def _answer(self, request: Request, photo: Photo, code: int = status.HTTP_200_OK) -> Response:
        data = {"favourited": selectors.has_favourited(request.user, photo),
                "favourites": selectors.favourite_count(photo)}  # fmt: skip
        return Response(FavouriteSerializer(data).data, status=code)

    @extend_schema(parameters=[SHARE], request=None, responses=FavouriteSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Adds the photo to your favourites (again is fine)."""
        _signed_in(request, "keep favourites")
        photo = _photo(request, pk)
        services.favourite(user=signed_in_user(request), photo=photo)
        return self._answer(request, photo)

    @extend_schema(parameters=[SHARE], request=None, responses=FavouriteSerializer)
    def delete(self, request: Request, pk: int) -> Response:
        _signed_in(request, "keep favourites")
        photo = _photo(request, pk)
        services.unfavourite(user=signed_in_user(request), photo=photo)
        return self._answer(request, photo)


class MyFavouritesView(generics.ListAPIView):
    """Your favourite photos that you may still see, newest photo first."""

    serializer_class = PhotoSerializer

    def get_queryset(self) -> QuerySet[Photo]:
        _signed_in(self.request, "see your favourites")
        return with_tags(selectors.my_favourites(self.request.user))


class PhotoCommentsView(generics.ListCreateAPIView):
    serializer_class = CommentSerializer
    throttle_scope = "comments"

    def get_throttles(self) -> list[BaseThrottle]:
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    def get_queryset(self) -> QuerySet[Comment]:
        return selectors.comments_on(_photo(self.request, int(self.kwargs["pk"]))).order_by("-id")

    @extend_schema(parameters=[SHARE])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        """A photo's comments, newest first."""
        return super().get(request, *args, **kwargs)

    @extend_schema(parameters=[SHARE], request=CommentWriteSerializer, responses={201: CommentSerializer})
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        _signed_in(request, "comment")
        photo = _photo(request, int(self.kwargs["pk"]))
        form = CommentWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            comment = services.add_comment(
                author=signed_in_user(request), photo=photo, text=form.validated_data["body"]
            )
        except services.CommentRejected as error:
            raise ValidationError({"detail": str(error)}) from None
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
        _signed_in(request, "edit comments")
        comment = self._comment(request, pk)
        form = CommentWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            services.edit_comment(
                user=signed_in_user(request), comment=comment, text=form.validated_data["body"]
            )
        except services.CommentRejected as error:
            raise ValidationError({"detail": str(error)}) from None
        return Response(CommentSerializer(comment).data)

    @extend_schema(parameters=[SHARE], request=None, responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        """Its author, or the photo's owner, deletes it."""
        _signed_in(request, "delete comments")
        services.delete_comment(user=signed_in_user(request), comment=self._comment(request, pk))
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
        _signed_in(request, "follow people")
        _refusals(lambda: services.follow(follower=signed_in_user(request), username=username))
        return _card(request, username)

    @extend_schema(request=None, responses=PersonSerializer)
    def delete(self, request: Request, username: str) -> Response:
        _signed_in(request, "follow people")
        _refusals(lambda: services.unfollow(follower=signed_in_user(request), username=username))
        return _card(request, username)


class MyProfileView(APIView):
    @extend_schema(responses=PersonSerializer)
    def get(self, request: Request) -> Response:
        _signed_in(request, "see your profile")
        return _card(request, signed_in_user(request).username)

    @extend_schema(request=ProfileUpdateSerializer, responses=PersonSerializer)
    def patch(self, request: Request) -> Response:
        """Your bio, and one of your public photos as your avatar."""
        _signed_in(request, "edit your profile")
        form = ProfileUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        changes = dict(form.validated_data)
        avatar = changes.pop("avatar", False)
        user = signed_in_user(request)
        _refusals(lambda: services.update_profile(user=user, avatar=avatar, **changes))
        return _card(request, user.username)


class FollowingFeedView(generics.ListAPIView):
    """Public photos of the people you follow, newest first."""

    serializer_class = PhotoSerializer

    def get_queryset(self) -> QuerySet[Photo]:
        _signed_in(self.request, "see whom you follow")
        return with_tags(selectors.following_feed(self.request.user))


def _refusals(change: Callable[[], object]) -> None:
    try:
        change()
    except services.PersonNotFound as error:
        raise Http404(str(error)) from None
    except services.CommentRejected as error:
        raise ValidationError({"detail": str(error)}) from None
