from rest_framework import serializers

from api.training.models import ModelVersion, TrainingRun


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["version", "status", "backbone", "tags", "metrics", "reason", "parent_version",
                  "dataset_fingerprint", "created_at", "activated_at"]  # fmt: skip
        read_only_fields = fields


class TrainingRunSerializer(serializers.ModelSerializer):
    requested_by = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = ["id", "status", "trigger", "requested_by", "phase", "progress", "epoch", "total_epochs",
                  "curves", "metrics", "error", "model_version", "dataset_fingerprint", "created_at",
                  "started_at", "finished_at"]  # fmt: skip
        read_only_fields = fields

    def get_requested_by(self, run: TrainingRun) -> str | None:
        return run.requested_by.username if run.requested_by else None
