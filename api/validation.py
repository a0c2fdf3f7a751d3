"""Serializers for request bodies that refuse what they do not know."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.settings import api_settings


class StrictSerializer(serializers.Serializer):
    """Unknown fields are a 400 naming them, not silently ignored: a client that misspells
    ``visibilty`` must hear about it rather than publish a photo it meant to keep private."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in set(data) - set(self.fields))
            if unknown:
                accepted = ", ".join(sorted(self.fields))
                noun = "field" if len(unknown) == 1 else "fields"
                raise serializers.ValidationError(
                    {
                        api_settings.NON_FIELD_ERRORS_KEY: [
                            f"Unknown {noun}: {', '.join(unknown)}. This request accepts: {accepted}."
                        ]
                    }
                )
        return super().to_internal_value(data)
