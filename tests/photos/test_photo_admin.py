"""The Django admin's photo list says whose photo it is and shows it; photos are never made there."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from api.photos.services import upload_photo
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db


def test_the_photo_list_shows_the_owners_name_a_thumbnail_and_the_caption_and_there_is_no_add_form(
    alice: User, make_user: Any
) -> None:
    photo = upload_photo(owner=alice, data=image_bytes(color=(9, 99, 199)), caption="Harbour at dawn")
    staff = Client()
    staff.force_login(_superuser(make_user))

    listing = staff.get("/admin/photos/photo/").content.decode()

    assert ">alice<" in listing and "Harbour at dawn" in listing
    assert f'src="/files/photos/{photo.pk}/grid"' in listing
    assert f"Photo {photo.pk} by {alice.pk}" not in listing
    assert staff.get("/admin/photos/photo/add/").status_code == 403
    assert str(photo) == f"Photo {photo.pk} by alice"


def _superuser(make_user: Any) -> User:
    user: User = make_user("boss", staff=True)
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    return user


def test_a_photos_admin_page_lists_no_other_photos_in_a_chooser(
    alice: User, bob: User, make_user: Any
) -> None:
    public = upload_photo(owner=alice, data=image_bytes(color=(1, 99, 199)))
    hidden = upload_photo(owner=bob, data=image_bytes(color=(2, 99, 199)), visibility="private")
    staff = Client()
    staff.force_login(_superuser(make_user))

    page = staff.get(f"/admin/photos/photo/{public.pk}/change/").content.decode()

    assert page and f"Photo {hidden.pk} by bob" not in page
