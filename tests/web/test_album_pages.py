"""Album pages on the site: the list, one album, and the owner's and contributors' changes. Bad
input is answered with a 4xx that says why, on the page it came from, with what was typed kept
and nothing changed."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from PIL import Image

from api.albums import services
from api.albums.models import Album, AlbumMember, AlbumPhoto
from api.photos.location import GPS_IFD
from api.photos.models import Photo
from api.photos.services import upload_photo
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db


def photo(owner: User, n: int, **fields: Any) -> Photo:
    return upload_photo(owner=owner, data=image_bytes(color=(n * 40 % 256, n * 90 % 256, 19)), **fields)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def card_ids(response: Any) -> list[int]:
    return [int(found) for found in re.findall(r'data-photo-id="(\d+)"', response.content.decode())]


def album_ids(response: Any) -> list[int]:
    return [int(found) for found in re.findall(r'data-album-id="(\d+)"', response.content.decode())]


def order_of(album: Album) -> list[int]:
    return list(AlbumPhoto.objects.filter(album=album).values_list("photo_id", flat=True))


def album_with(owner: User, photos: list[Photo], **fields: Any) -> Album:
    album = services.create_album(owner=owner, title=fields.pop("title", "Trip"), **fields)
    if photos:
        services.add_photos(user=owner, album=album, photo_ids=[p.pk for p in photos])
    return album


# ---------------------------------------------------------------- the list and a new album


def test_the_album_list_shows_my_albums_and_those_shared_with_me_and_no_one_elses(
    alice: User, bob: User, carol: User
) -> None:
    mine = services.create_album(owner=bob, title="Mine")
    shared = services.create_album(owner=alice, title="Alice's")
    services.invite(user=alice, album=shared, username="bob", role="viewer")
    services.create_album(owner=carol, title="Carol's public", visibility="public")

    page = signed_in(bob).get("/albums/")

    html = page.content.decode()
    assert page.status_code == 200
    assert html.index("My albums") < html.index(f'data-album-id="{mine.pk}"') < html.index("Shared with me")
    assert album_ids(page) == [mine.pk, shared.pk]
    assert "you are a viewer" in html
    assert "Carol" not in html


def test_the_album_list_counts_and_covers_only_photos_the_viewer_may_see(alice: User, bob: User) -> None:
    public, private = photo(alice, 1), photo(alice, 2, visibility="private")
    album = album_with(alice, [public, private])
    services.update_album(user=alice, album=album, cover=private.pk)
    services.invite(user=alice, album=album, username="bob", role="viewer")

    theirs = signed_in(bob).get("/albums/").content.decode()
    mine = signed_in(alice).get("/albums/").content.decode()

    assert "1 photo<" in theirs and f"/files/photos/{private.pk}/" not in theirs
    assert "2 photos" in mine and f"/files/photos/{private.pk}/grid" in mine


def test_a_new_album_opens_its_page_and_a_bad_one_says_why_keeping_what_was_typed(alice: User) -> None:
    client = signed_in(alice)

    no_title = client.post(
        "/albums/new/", {"title": "  ", "description": "our summer", "visibility": "public"}
    )
    bad_visibility = client.post("/albums/new/", {"title": "Crete", "visibility": "everyone"})
    made = client.post("/albums/new/", {"title": "Crete", "description": "sea", "visibility": "unlisted"})

    assert no_title.status_code == 400
    assert "An album needs a title." in no_title.content.decode()
    assert "our summer" in no_title.content.decode()
    assert bad_visibility.status_code == 400
    assert "Visibility must be one of public, unlisted, private, not &#x27;everyone&#x27;." in (
        bad_visibility.content.decode()
    )
    album = Album.objects.get()
    assert (album.title, album.description, album.visibility) == ("Crete", "sea", "unlisted")
    assert made.status_code == 302 and made["Location"] == f"/a/{album.pk}/"


def test_the_album_pages_ask_the_anonymous_to_log_in(alice: User) -> None:
    assert Client().get("/albums/")["Location"].startswith("/accounts/login/")
    assert Client().post("/albums/new/", {"title": "x"})["Location"].startswith("/accounts/login/")
    assert not Album.objects.exists()


# ---------------------------------------------------------------- one album: who sees what


def test_an_unlisted_album_opens_with_its_link_and_shows_no_photo_its_link_would_not_open(
    alice: User, bob: User
) -> None:
    public, unlisted = photo(alice, 1, caption="harbour"), photo(alice, 2, visibility="unlisted")
    album = album_with(alice, [public, unlisted], visibility="unlisted", description="our week")

    owner_page = signed_in(alice).get(f"/a/{album.pk}/").content.decode()
    with_link = Client().get(f"/a/{album.pk}/?s={album.share_token}")
    wrong_link = Client().get(f"/a/{album.pk}/?s=not-the-token")

    assert f"/a/{album.pk}/?s={album.share_token}" in owner_page  # the owner's share link
    assert with_link.status_code == 200
    assert card_ids(with_link) == [public.pk]
    assert "our week" in with_link.content.decode()
    assert 'id="album-share-link"' not in with_link.content.decode()  # the owner alone shares it
    assert f"/api/albums/{album.pk}/download/?share={album.share_token}" in with_link.content.decode()
    assert wrong_link.status_code == 404
    assert signed_in(bob).get(f"/a/{album.pk}/").status_code == 404


def test_an_album_page_pages_on_in_the_albums_order(alice: User, settings: Any) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 2}
    first, second, third = photo(alice, 1), photo(alice, 2), photo(alice, 3)
    album = album_with(alice, [third, first, second])
    client = signed_in(alice)

    page = client.get(f"/a/{album.pk}/")
    more_url = page.content.decode().split('class="more" hx-get="')[1].split('"')[0].replace("&amp;", "&")
    rest = client.get(more_url, headers={"HX-Request": "true"})

    assert card_ids(page) == [third.pk, first.pk]
    assert card_ids(rest) == [second.pk]
    assert "<html" not in rest.content.decode() and "Move photo" in rest.content.decode()


def test_a_private_album_is_its_members_and_they_see_who_is_in_it(
    alice: User, bob: User, carol: User
) -> None:
    album = album_with(alice, [photo(alice, 1)])
    services.invite(user=alice, album=album, username="bob", role="contributor")

    member = signed_in(bob).get(f"/a/{album.pk}/")

    assert member.status_code == 200
    assert 'data-member="bob"' in member.content.decode() and "Leave" in member.content.decode()
    assert signed_in(carol).get(f"/a/{album.pk}/").status_code == 404
    assert Client().get(f"/a/{album.pk}/").status_code == 404
    assert 'data-member="bob"' not in Client().get(f"/a/{album.pk}/?s={album.share_token}").content.decode()


# ---------------------------------------------------------------- one album: the owner's changes


def test_the_owner_edits_moves_covers_removes_and_deletes(alice: User) -> None:
    first, second, third = photo(alice, 1), photo(alice, 2), photo(alice, 3)
    album = album_with(alice, [first, second, third], title="Old")
    client = signed_in(alice)

    client.post(f"/a/{album.pk}/edit/", {"title": "New", "description": "d", "visibility": "public"})
    client.post(f"/a/{album.pk}/photos/{third.pk}/up/")
    client.post(f"/a/{album.pk}/photos/{first.pk}/up/")  # the first stays first
    client.post(f"/a/{album.pk}/edit/", {"cover": str(second.pk)})
    client.post(f"/a/{album.pk}/photos/{first.pk}/remove/")

    album.refresh_from_db()
    assert (album.title, album.description, album.visibility, album.cover_id) == (
        "New",
        "d",
        "public",
        second.pk,
    )
    assert order_of(album) == [third.pk, second.pk]
    assert card_ids(client.get(f"/a/{album.pk}/")) == [third.pk, second.pk]
    assert client.post(f"/a/{album.pk}/delete/")["Location"] == "/albums/"
    assert not Album.objects.exists() and Photo.objects.count() == 3


def test_a_bad_edit_says_why_and_changes_nothing(alice: User) -> None:
    album = album_with(alice, [photo(alice, 1)], title="Kept")
    elsewhere = photo(alice, 2)
    client = signed_in(alice)

    empty = client.post(f"/a/{album.pk}/edit/", {"title": "", "description": "typed words"})
    long = client.post(f"/a/{album.pk}/edit/", {"title": "x" * 201})
    not_in_it = client.post(f"/a/{album.pk}/edit/", {"cover": str(elsewhere.pk)})
    not_a_number = client.post(f"/a/{album.pk}/edit/", {"cover": "first"})
    sideways = client.post(f"/a/{album.pk}/photos/{elsewhere.pk}/sideways/")

    assert empty.status_code == 400 and "An album needs a title." in empty.content.decode()
    assert "typed words" in empty.content.decode()
    assert long.status_code == 400 and "the limit is 200" in long.content.decode()
    assert not_in_it.status_code == 400
    assert f"Photo {elsewhere.pk} is not in this album" in not_in_it.content.decode()
    assert not_a_number.status_code == 400 and "by their numbers" in not_a_number.content.decode()
    assert sideways.status_code == 404
    album.refresh_from_db()
    assert (album.title, album.description, album.cover_id) == ("Kept", "", None)


def test_the_owner_invites_by_username_and_a_bad_invitation_says_why(alice: User, bob: User) -> None:
    album = album_with(alice, [])
    client = signed_in(alice)

    nobody = client.post(f"/a/{album.pk}/members/", {"username": "zed", "role": "viewer"})
    bad_role = client.post(f"/a/{album.pk}/members/", {"username": "bob", "role": "admin"})
    invited = client.post(f"/a/{album.pk}/members/", {"username": "bob", "role": "contributor"})

    assert nobody.status_code == 400
    assert "There is nobody called &#x27;zed&#x27; here." in nobody.content.decode()
    assert 'value="zed"' in nobody.content.decode()  # the name typed is still in the box
    assert bad_role.status_code == 400 and "a viewer or a contributor" in bad_role.content.decode()
    assert invited.status_code == 302
    assert list(AlbumMember.objects.values_list("user__username", "role")) == [("bob", "contributor")]
    client.post(f"/a/{album.pk}/members/remove/", {"username": "bob"})
    assert not AlbumMember.objects.exists()


def test_only_the_owner_changes_the_album_and_others_are_told_so(alice: User, bob: User) -> None:
    public = photo(alice, 1)
    album = album_with(alice, [public], visibility="public")
    client = signed_in(bob)

    answers = [
        client.post(f"/a/{album.pk}/edit/", {"title": "mine now"}),
        client.post(f"/a/{album.pk}/delete/"),
        client.post(f"/a/{album.pk}/members/", {"username": "bob", "role": "contributor"}),
        client.post(f"/a/{album.pk}/photos/{public.pk}/down/"),
        client.post(f"/a/{album.pk}/photos/{public.pk}/remove/"),
    ]

    assert [answer.status_code for answer in answers] == [403] * 5
    assert "Only the album&#x27;s owner can edit it." in answers[0].content.decode()
    album.refresh_from_db()
    assert album.title == "Trip" and order_of(album) == [public.pk] and not AlbumMember.objects.exists()


# ---------------------------------------------------------------- contributors


def test_a_contributor_adds_their_own_photos_and_removes_only_those(alice: User, bob: User) -> None:
    alices = photo(alice, 1)
    album = album_with(alice, [alices])
    services.invite(user=alice, album=album, username="bob", role="contributor")
    bobs, bobs_other = photo(bob, 2), photo(bob, 3)
    client = signed_in(bob)

    page = client.get(f"/a/{album.pk}/").content.decode()
    added = client.post(f"/a/{album.pk}/photos/", {"photo": [str(bobs.pk), str(bobs_other.pk)]})
    someone_elses = client.post(f"/a/{album.pk}/photos/{alices.pk}/remove/")
    removed = client.post(f"/a/{album.pk}/photos/{bobs_other.pk}/remove/")

    assert f'name="photo" value="{bobs.pk}"' in page
    assert added.status_code == 302
    assert someone_elses.status_code == 403
    assert "A contributor removes only the photos they added." in someone_elses.content.decode()
    assert removed.status_code == 302
    assert order_of(album) == [alices.pk, bobs.pk]


def test_adding_a_photo_that_is_not_yours_or_not_a_number_says_why_and_adds_nothing(
    alice: User, bob: User
) -> None:
    album = album_with(alice, [])
    services.invite(user=alice, album=album, username="bob", role="contributor")
    alices = photo(alice, 1)
    client = signed_in(bob)

    not_mine = client.post(f"/a/{album.pk}/photos/", {"photo": [str(alices.pk)]})
    nonsense = client.post(f"/a/{album.pk}/photos/", {"photo": ["ten"]})
    none = client.post(f"/a/{album.pk}/photos/", {})

    assert not_mine.status_code == 400 and "You can add only your own photos" in not_mine.content.decode()
    assert nonsense.status_code == 400 and "by their numbers" in nonsense.content.decode()
    assert none.status_code == 400 and "Name at least one photo to add." in none.content.decode()
    assert not AlbumPhoto.objects.exists()


def test_a_viewer_may_not_add_photos_and_is_told_so(alice: User, bob: User) -> None:
    album = album_with(alice, [])
    services.invite(user=alice, album=album, username="bob", role="viewer")
    bobs = photo(bob, 1)

    answer = signed_in(bob).post(f"/a/{album.pk}/photos/", {"photo": [str(bobs.pk)]})

    assert answer.status_code == 403
    assert "Only the album&#x27;s owner and its contributors can add photos." in answer.content.decode()
    assert not AlbumPhoto.objects.exists()


def test_a_member_leaves_and_the_album_is_no_longer_theirs_to_see(alice: User, bob: User) -> None:
    album = album_with(alice, [])
    services.invite(user=alice, album=album, username="bob", role="viewer")
    client = signed_in(bob)

    left = client.post(f"/a/{album.pk}/members/remove/", {"username": "bob"})

    assert left["Location"] == "/albums/"
    assert client.get(f"/a/{album.pk}/").status_code == 404


# ---------------------------------------------------------------- from a photo's page


def test_the_photo_page_offers_the_albums_its_owner_may_add_to_and_adds_to_one(
    alice: User, bob: User
) -> None:
    mine = services.create_album(owner=bob, title="Bob's own")
    contributing = services.create_album(owner=alice, title="Alice's, bob contributes")
    services.invite(user=alice, album=contributing, username="bob", role="contributor")
    viewing = services.create_album(owner=alice, title="Alice's, bob views")
    services.invite(user=alice, album=viewing, username="bob", role="viewer")
    bobs = photo(bob, 1)
    client = signed_in(bob)

    page = client.get(f"/p/{bobs.pk}/").content.decode()
    added = client.post(f"/p/{bobs.pk}/add-to-album/", {"album": str(contributing.pk)})
    refused = client.post(f"/p/{bobs.pk}/add-to-album/", {"album": str(viewing.pk)})

    assert f'<option value="{mine.pk}">' in page and f'value="{contributing.pk}"' in page
    assert f'value="{viewing.pk}"' not in page
    assert added["Location"] == f"/a/{contributing.pk}/"
    assert refused.status_code == 403
    assert "Only the album&#x27;s owner and its contributors can add photos." in refused.content.decode()
    assert client.post(f"/p/{bobs.pk}/add-to-album/", {"album": ""}).status_code == 400
    assert list(AlbumPhoto.objects.values_list("album_id", "photo_id")) == [(contributing.pk, bobs.pk)]
    assert "Add to album" not in signed_in(alice).get(f"/p/{bobs.pk}/").content.decode()


def test_the_photo_pages_download_button_gives_the_original_without_its_gps(alice: User, bob: User) -> None:
    exif = Image.Exif()
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2], gps[3], gps[4] = "N", (35.0, 20.0, 1.5), "E", (25.0, 8.0, 2.5)
    sent = io.BytesIO()
    Image.new("RGB", (48, 32), (9, 99, 199)).save(sent, format="JPEG", exif=exif.tobytes())
    assert Image.open(sent).getexif().get_ifd(GPS_IFD) != {}  # what was sent had its GPS
    harbour = upload_photo(owner=alice, data=sent.getvalue())

    page = signed_in(bob).get(f"/p/{harbour.pk}/").content.decode()
    link = re.search(r'<a class="button" href="([^"]+)" download>Download</a>', page)
    assert link is not None
    served = signed_in(bob).get(link.group(1)).getvalue()

    assert link.group(1) == f"/files/photos/{harbour.pk}/original"
    assert Image.open(io.BytesIO(served)).getexif().get_ifd(GPS_IFD) == {}
    assert Image.open(io.BytesIO(served)).size == (48, 32)
