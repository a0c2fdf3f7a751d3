"""Photo file URLs in templates, built by :mod:`api.photos.links` as the views and the API build
them."""

from __future__ import annotations

from django import template
from django.contrib.auth.models import AnonymousUser
from django.template.context import Context

from api.photos.links import file_url_for
from api.photos.models import Photo

register = template.Library()


@register.simple_tag(takes_context=True)
def photo_file_url(context: Context, photo: Photo, kind: str) -> str:
    return file_url_for(context.get("user") or AnonymousUser(), photo, kind)
