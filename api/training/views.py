from __future__ import annotations

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.accounts.selectors import signed_in_user
from api.training import registry, runs
from api.training.models import ModelVersion, TrainingRun
from api.training.selectors import next_vocabulary
from api.training.serializers import ModelVersionSerializer, TrainingRunSerializer


class ModelVersionList(generics.ListAPIView):
    serializer_class = ModelVersionSerializer
    pagination_class = None
    queryset = ModelVersion.objects.all()


class ActivateModelVersion(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(request=None, responses=ModelVersionSerializer)
    def post(self, request: Request, version: int) -> Response:
        """Activate a version, or roll back to an earlier one. Workers switch between batches."""
        try:
            row = registry.activate_version(version=version)
        except registry.ActivationRefused as error:
            if not ModelVersion.objects.filter(version=version).exists():
                raise Http404(str(error)) from None
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(ModelVersionSerializer(row).data)


class TrainingRunList(generics.ListAPIView):
    # Staff only, reading too: a run's per-tag metrics name tags from private photos.
    serializer_class = TrainingRunSerializer
    permission_classes = [IsAdminUser]
    queryset = TrainingRun.objects.select_related("requested_by")

    @extend_schema(request=None, responses={202: TrainingRunSerializer, 409: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        """Start a training run (staff). While one is queued or running, answers 409 with its id."""
        try:
            run = runs.start_run(trigger=TrainingRun.Trigger.API, user=signed_in_user(request))
        except runs.RunInProgress as busy:
            return Response(
                {"detail": str(busy), "run_id": busy.run.pk, "status": busy.run.status},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunDetail(generics.RetrieveAPIView):
    serializer_class = TrainingRunSerializer
    permission_classes = [IsAdminUser]
    queryset = TrainingRun.objects.select_related("requested_by")


class Vocabulary(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        """The tags the next model will learn, and those still short of MIN_PHOTOS_PER_TAG."""
        tags, near = next_vocabulary()
        needed = settings.MIN_PHOTOS_PER_TAG
        return Response(
            {
                "min_photos_per_tag": needed,
                "vocabulary": tags,
                "close": [{"tag": t, "photos": n, "needed": needed - n} for t, n in near.items()],
            }
        )
