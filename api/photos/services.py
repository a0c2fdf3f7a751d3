"""Writing photos: upload, edit, delete. Files and rows stay consistent: a failed upload leaves no
file and no row; a deleted photo's files go when no other row uses them."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction

from api import volume
from api.photos import activity, storage
from api.photos.imaging import ImageRejected, process_upload
from api.photos.models import Photo, TaggingStatus, Visibility
from api.tags import counts

log = logging.getLogger(__name__)

CAPTION_MAX_LENGTH = 2000


class PhotoRejected(ValueError):
    """An upload or edit that cannot be accepted; the message is shown to the person."""


class StorageFailed(RuntimeError):
    """The server could not store a good photo (disk full, permissions); nothing was kept."""


class DuplicatePhoto(PhotoRejected):
    def __init__(self, existing: Photo) -> None:
        super().__init__(f"You already uploaded this photo (photo {existing.pk}).")
        self.existing = existing


def without_control_characters(text: str) -> str:
    # Control characters break layouts and logs; newlines and tabs are fine in a caption.
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable()).strip()


def clean_caption(caption: str) -> str:
    cleaned = without_control_characters(caption)
    if len(cleaned) > CAPTION_MAX_LENGTH:
        raise PhotoRejected(
            f"The caption is {len(cleaned)} characters long; the limit is {CAPTION_MAX_LENGTH}."
        )
    return cleaned


def clean_visibility(visibility: str) -> str:
    if visibility not in Visibility.values:
        raise PhotoRejected(f"Visibility must be one of: {', '.join(Visibility.values)}.")
    return visibility


def upload_photo(
    *,
    owner: User,
    data: bytes,
    caption: str = "",
    visibility: str = Visibility.PUBLIC,
    tag_names: Iterable[str] = (),
    show_location: bool = False,
) -> Photo:
    from api.tagging.services import request_tagging
    from api.tags import services as tag_services  # tags build on photos, not the other way

    caption = clean_caption(caption)
    visibility = clean_visibility(visibility)
    names = tag_services.normalise_many(tag_names)
    try:
        image = process_upload(
            data,
            max_bytes=settings.MAX_UPLOAD_BYTES,
            max_pixels=settings.MAX_IMAGE_PIXELS,
            grid_px=settings.THUMB_GRID_PX,
            display_px=settings.THUMB_DISPLAY_PX,
        )
    except ImageRejected as error:
        raise PhotoRejected(str(error)) from None

    existing = Photo.objects.filter(owner=owner, content_hash=image.content_hash).first()
    if existing is not None:
        raise DuplicatePhoto(existing)
    original = volume.original_path(image.content_hash, image.ext)
    already_stored = original.exists()
    try:
        if not already_stored:
            storage.write_atomically(original, image.original)
        for size, thumb in image.thumbnails.items():
            path = volume.thumb_path(image.content_hash, size)  # type: ignore[arg-type]
            if not path.exists():
                storage.write_atomically(path, thumb)
        with transaction.atomic():
            photo = Photo.objects.create(
                owner=owner,
                content_hash=image.content_hash,
                file_ext=image.ext,
                mime_type=image.mime_type,
                byte_size=image.byte_size,
                width=image.width,
                height=image.height,
                taken_at=image.taken_at,
                latitude=image.latitude,
                longitude=image.longitude,
                show_location=show_location,
                caption=caption,
                visibility=visibility,
                status=TaggingStatus.PENDING,
            )
            for name in names:
                tag_services.add_tag(photo=photo, user=owner, name=name)
            activity.count(uploaded=1, at=photo.created_at)
            request_tagging()
    except OSError as error:
        _forget_files_if_unused(image.content_hash, image.ext)
        log.exception("could not store upload %s", image.content_hash)
        reason = error.strerror or "storage error"
        raise StorageFailed(f"The photo could not be saved ({reason}). Please try again later.") from None
    except BaseException:
        _forget_files_if_unused(image.content_hash, image.ext)
        raise
    return photo


def _forget_files_if_unused(content_hash: str, ext: str) -> None:
    if not Photo.objects.filter(content_hash=content_hash).exists():
        storage.remove_files(content_hash, ext)


def update_photo(
    *,
    photo: Photo,
    caption: str | None = None,
    visibility: str | None = None,
    show_location: bool | None = None,
) -> Photo:
    fields = ["updated_at"]
    if show_location is not None:
        photo.show_location = show_location
        fields.append("show_location")
    if caption is not None:
        photo.caption = clean_caption(caption)
        fields.append("caption")
    was_public = photo.visibility == Visibility.PUBLIC
    if visibility is not None:
        photo.visibility = clean_visibility(visibility)
        fields.append("visibility")
    photo.save(update_fields=fields)
    if was_public and photo.visibility != Visibility.PUBLIC:
        transaction.on_commit(counts.recount_soon)
    return photo


def delete_photo(*, photo: Photo) -> None:
    content_hash, ext = photo.content_hash, photo.file_ext
    with transaction.atomic():
        photo.delete()
        # Files go only after the row is really gone, and only if no one else uses them.
        transaction.on_commit(lambda: _forget_files_if_unused(content_hash, ext))


def is_owner(user: User | AnonymousUser, photo: Photo) -> bool:
    return bool(user.is_authenticated and photo.owner_id == user.pk)
