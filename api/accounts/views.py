from __future__ import annotations

from django.contrib.auth import authenticate, password_validation, update_session_auth_hash
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView

from api.accounts import services
from api.accounts.deletion import delete_account
from api.accounts.export import account_zip, export_name
from api.accounts.reset import send_reset_link
from api.accounts.selectors import signed_in_user
from api.errors import refusals_as_400
from api.validation import StrictSerializer


class RegisterSerializer(StrictSerializer):
    username = serializers.RegexField(
        r"^[\w.@+-]+$", max_length=150, error_messages={"invalid": "Use letters, digits and @/./+/-/_ only."}
    )
    password = serializers.CharField(write_only=True, max_length=128)
    # Checked by the service, which says the same as the website does (and checks it is free).
    email = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=services.EMAIL_MAX_LENGTH,
        help_text="Optional: where password reset links go",
    )  # fmt: skip


class CredentialsSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, write_only=True)


class PasswordChangeSerializer(StrictSerializer):
    old_password = serializers.CharField(max_length=128)
    new_password = serializers.CharField(max_length=128)


class AccountSerializer(serializers.Serializer):
    username = serializers.CharField(read_only=True)
    email = serializers.CharField(read_only=True, help_text="Where password reset links go; empty: none")
    date_joined = serializers.DateTimeField(read_only=True)


class AccountUpdateSerializer(StrictSerializer):
    email = serializers.CharField(
        max_length=services.EMAIL_MAX_LENGTH, allow_blank=True, help_text="An address, or empty to remove it"
    )


class AccountDeleteSerializer(StrictSerializer):
    password = serializers.CharField(max_length=128, help_text="Your current password")


class PasswordResetSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=services.EMAIL_MAX_LENGTH)


class TokenAnswer(serializers.Serializer):
    username = serializers.CharField()
    token = serializers.CharField()


class RegisterView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(request=RegisterSerializer, responses={201: TokenAnswer})
    def post(self, request: Request) -> Response:
        form = RegisterSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            user = services.register_user(**form.validated_data)
        except services.RegistrationRejected as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            {"username": user.username, "token": services.token_for(user)}, status=status.HTTP_201_CREATED
        )


class TokenView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(request=CredentialsSerializer, responses=TokenAnswer)
    def post(self, request: Request) -> Response:
        """Exchange a username and password for an API token."""
        form = CredentialsSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = authenticate(request, **form.validated_data)
        if user is None:
            return Response({"detail": "Wrong username or password."}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"username": user.username, "token": services.token_for(user)})


class PasswordChangeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=PasswordChangeSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        form = PasswordChangeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = signed_in_user(request)
        if not user.check_password(form.validated_data["old_password"]):
            return Response({"detail": "The current password is wrong."}, status=status.HTTP_400_BAD_REQUEST)
        try:
            password_validation.validate_password(form.validated_data["new_password"], user=user)
        except DjangoValidationError as error:
            return Response({"detail": " ".join(error.messages)}, status=status.HTTP_400_BAD_REQUEST)
        user.set_password(form.validated_data["new_password"])
        user.save(update_fields=["password"])
        update_session_auth_hash(request._request, user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountView(APIView):
    """Your account: see it, set or change its e-mail address, or delete it with everything in it."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "login"

    def get_throttles(self) -> list[BaseThrottle]:
        # Deleting checks the password: limited like log-in, so a stolen session cannot guess it.
        return [ScopedRateThrottle()] if self.request.method == "DELETE" else []

    @extend_schema(responses=AccountSerializer)
    def get(self, request: Request) -> Response:
        return Response(AccountSerializer(signed_in_user(request)).data)

    @extend_schema(request=AccountUpdateSerializer, responses=AccountSerializer)
    def patch(self, request: Request) -> Response:
        form = AccountUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        with refusals_as_400(services.EmailRejected):
            user = services.set_email(user=signed_in_user(request), email=form.validated_data["email"])
        return Response(AccountSerializer(user).data)

    @extend_schema(
        request=AccountDeleteSerializer,
        responses={204: None},
        description="Deletes the account and everything of yours for good: photos and their files, "
        "tags, votes, comments, favourites, follows, albums, notifications. Needs your password.",
    )
    def delete(self, request: Request) -> Response:
        form = AccountDeleteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = signed_in_user(request)
        if not user.check_password(form.validated_data["password"]):
            return Response({"detail": "The password is wrong."}, status=status.HTTP_400_BAD_REQUEST)
        delete_account(user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountExportView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={(200, "application/zip"): bytes})
    def get(self, request: Request) -> StreamingHttpResponse:
        """Your photos (originals as stored) and a tagloop.json of their captions, tags, visibility
        and dates, your albums, comments, favourites and follows, as one ZIP (streamed)."""
        return export_response(signed_in_user(request))


def export_response(user: User) -> StreamingHttpResponse:
    response = StreamingHttpResponse(account_zip(user), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{export_name(user)}"'
    response["Cache-Control"] = "private, no-store"
    return response


class PasswordResetView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(request=PasswordResetSerializer, responses={202: None})
    def post(self, request: Request) -> Response:
        """E-mail a link to set a new password to the account with this address. The answer is the
        same whether or not there is one."""
        form = PasswordResetSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        send_reset_link(request._request, form.validated_data["email"])
        return Response(status=status.HTTP_202_ACCEPTED)
