"""The website's people, conversation and notifications, through Django's test client: what each
page shows, and the refusals a person reads when something cannot be done."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.throttling import ScopedRateThrottle

from api.albums.services import create_album, invite
from api.notifications.models import Notification
from api.photos.models import Photo
from api.photos.services import update_photo, upload_photo
from api.social.models import Comment, Favourite, Follow, Profile
from api.social.services import add_comment, favourite, follow
from tests.helpers.clients import stored_files
from tests.helpers.images import image_bytes
from web.templatetags.hashtags import hashtags

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def photo(owner: User, n: int, **fields: Any) -> Photo:
    return upload_photo(owner=owner, data=image_bytes(color=(n * 40 % 256, n * 70 % 256, 5)), **fields)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def card_ids(response: Any) -> list[int]:
    html = response.content.decode()
    return [int(chunk.split('"', 1)[0]) for chunk in html.split('data-photo-id="')[1:]]


# ---------------------------------------------------------------- hashtags


def test_hashtags_link_to_tag_pages_by_their_normalised_name_and_everything_else_is_escaped() -> None:
    html = hashtags("It's #Sunset at <b>5</b> & #sea-side, not page#top nor #" + "x" * 80)

    assert '<a class="hashtag" href="/t/sunset/">#Sunset</a>' in html
    assert '<a class="hashtag" href="/t/sea-side/">#sea-side</a>' in html
    assert "It&#x27;s" in html and "&lt;b&gt;5&lt;/b&gt; &amp;" in html
    assert "page#top" in html and "/t/top/" not in html and "/t/x27/" not in html
    assert "#" + "x" * 80 in html  # longer than a tag may be: plain text
    assert hashtags(None) == "" and hashtags("<script>") == "&lt;script&gt;"


def test_a_caption_shows_its_hashtags_as_links(alice: User) -> None:
    pic = photo(alice, 1, caption="Evening at the #beach <i>really</i>")

    page = Client().get(f"/p/{pic.pk}/").content.decode()

    assert '<a class="hashtag" href="/t/beach/">#beach</a> &lt;i&gt;really&lt;/i&gt;' in page


# ---------------------------------------------------------------- comments


def test_a_comment_added_on_the_photo_page_appears_at_once_with_its_hashtags_linked(
    alice: User, bob: User
) -> None:
    pic = photo(alice, 1)

    answer = signed_in(bob).post(f"/p/{pic.pk}/comments/", {"body": "Lovely #Sky <3"}, headers=HTMX)

    assert answer.status_code == 200
    html = answer.content.decode()
    assert '<section class="comments" id="comments"' in html and "@bob" in html
    assert '<a class="hashtag" href="/t/sky/">#Sky</a> &lt;3' in html
    assert list(Comment.objects.values_list("body", flat=True)) == ["Lovely #Sky <3"]
    assert "Lovely" in Client().get(f"/p/{pic.pk}/").content.decode()


def test_a_plain_form_post_without_htmx_goes_back_to_the_photos_comments(alice: User, bob: User) -> None:
    pic = photo(alice, 1)

    answer = signed_in(bob).post(f"/p/{pic.pk}/comments/", {"body": "Nice"})

    assert answer.status_code == 302 and answer["Location"] == f"/p/{pic.pk}/#comments"


@pytest.mark.parametrize(
    ("text", "says"),
    [("   ", "A comment needs some text."), ("x" * 2001, "the limit is 2000")],
    ids=["empty", "too-long"],
)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain-form"])
def test_an_empty_or_too_long_comment_is_a_400_that_says_why_and_keeps_the_text(
    alice: User, bob: User, text: str, says: str, htmx: bool
) -> None:
    pic = photo(alice, 1)

    answer = signed_in(bob).post(f"/p/{pic.pk}/comments/", {"body": text}, headers=HTMX if htmx else {})

    assert answer.status_code == 400
    html = answer.content.decode()
    assert says in html and ("x" * 2001 in html) == (len(text) > 2000)
    assert Comment.objects.count() == 0


def test_commenting_too_fast_is_a_429_that_says_how_long_to_wait_and_keeps_the_text(
    alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "comments", "2/min")
    pic = photo(alice, 1)
    bob_site = signed_in(bob)

    answers = [bob_site.post(f"/p/{pic.pk}/comments/", {"body": f"no. {n}"}, headers=HTMX) for n in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    html = answers[-1].content.decode()
    assert "You are commenting too fast. Please wait" in html and ">no. 2</textarea>" in html
    assert Comment.objects.count() == 2


def test_authors_edit_their_own_comments_and_the_photos_owner_deletes_any_but_nobody_else_does(
    alice: User, bob: User, carol: User
) -> None:
    pic = photo(alice, 1)
    bobs = add_comment(author=bob, photo=pic, text="first")
    alice_site, bob_site, carol_site = signed_in(alice), signed_in(bob), signed_in(carol)

    page_for_carol = carol_site.get(f"/p/{pic.pk}/").content.decode()
    page_for_alice = alice_site.get(f"/p/{pic.pk}/").content.decode()
    edited = bob_site.post(f"/comments/{bobs.pk}/edit/", {"body": "second #try"}, headers=HTMX)
    emptied = bob_site.post(f"/comments/{bobs.pk}/edit/", {"body": ""}, headers=HTMX)
    by_carol = carol_site.post(f"/comments/{bobs.pk}/edit/", {"body": "hijacked"})
    carol_deletes = carol_site.post(f"/comments/{bobs.pk}/delete/")
    alice_edits = alice_site.post(f"/comments/{bobs.pk}/edit/", {"body": "owner's words"})

    assert (
        f"/comments/{bobs.pk}/edit/" not in page_for_carol
        and f"/comments/{bobs.pk}/delete/" not in page_for_carol
    )
    assert (
        f"/comments/{bobs.pk}/delete/" in page_for_alice
        and f"/comments/{bobs.pk}/edit/" not in page_for_alice
    )
    assert edited.status_code == 200 and "/t/try/" in edited.content.decode()
    assert emptied.status_code == 400 and "A comment needs some text." in emptied.content.decode()
    assert (by_carol.status_code, carol_deletes.status_code, alice_edits.status_code) == (403, 403, 403)
    assert Comment.objects.get().body == "second #try"
    assert alice_site.post(f"/comments/{bobs.pk}/delete/", headers=HTMX).status_code == 200
    assert Comment.objects.count() == 0


def test_comments_of_a_photo_someone_may_not_see_are_neither_shown_nor_taken(alice: User, bob: User) -> None:
    private, unlisted = photo(alice, 1, visibility="private"), photo(alice, 2, visibility="unlisted")
    secret = add_comment(author=alice, photo=private, text="secret words")
    add_comment(author=alice, photo=unlisted, text="for the link's holders")
    bob_site = signed_in(bob)

    assert bob_site.post(f"/p/{private.pk}/comments/", {"body": "hi"}).status_code == 404
    assert bob_site.post(f"/comments/{secret.pk}/delete/").status_code == 404
    assert bob_site.post(f"/p/{unlisted.pk}/comments/", {"body": "hi"}).status_code == 404
    with_link = bob_site.post(
        f"/p/{unlisted.pk}/comments/", {"body": "hi", "s": unlisted.share_token}, headers=HTMX
    )
    assert with_link.status_code == 200 and "for the link&#x27;s holders" in with_link.content.decode()
    assert Comment.objects.filter(author=bob).count() == 1
    assert Client().post(f"/p/{unlisted.pk}/comments/", {"body": "hi"}).status_code == 302  # log in first


# ---------------------------------------------------------------- favourites and galleries


def test_the_favourite_button_adds_and_takes_out_and_shows_the_count(alice: User, bob: User) -> None:
    pic = photo(alice, 1)
    favourite(user=alice, photo=pic)
    bob_site = signed_in(bob)

    added = bob_site.post(f"/p/{pic.pk}/favourite/", {"favourite": "1"}, headers=HTMX).content.decode()
    again = bob_site.post(f"/p/{pic.pk}/favourite/", {"favourite": "1"}, headers=HTMX).content.decode()
    assert "2 favourites" in added and 'aria-pressed="true"' in added and "2 favourites" in again
    removed = bob_site.post(f"/p/{pic.pk}/favourite/", {"favourite": "0"}, headers=HTMX).content.decode()
    assert "1 favourite<" in removed and 'aria-pressed="false"' in removed
    assert list(Favourite.objects.values_list("user__username", flat=True)) == ["alice"]
    assert "1 favourite" in Client().get(f"/p/{pic.pk}/").content.decode()


def test_my_favourites_list_what_i_may_still_see_and_following_shows_only_public_photos(
    alice: User, bob: User, carol: User
) -> None:
    first, second, hidden = photo(alice, 1), photo(alice, 2), photo(alice, 3, visibility="private")
    carols = photo(carol, 4)
    for pic in (first, second, carols):
        favourite(user=bob, photo=pic)
    update_photo(photo=second, visibility="private")
    follow(follower=bob, username="alice")
    bob_site = signed_in(bob)

    assert card_ids(bob_site.get("/favourites/")) == [carols.pk, first.pk]
    assert card_ids(bob_site.get("/following/")) == [first.pk]
    assert hidden.pk not in card_ids(bob_site.get("/following/"))
    assert "No favourites yet" in signed_in(carol).get("/favourites/").content.decode()
    assert Client().get("/following/")["Location"].startswith("/accounts/login/")


# ---------------------------------------------------------------- profiles


def test_a_profile_shows_the_persons_card_and_following_from_it_counts_at_once(
    alice: User, bob: User
) -> None:
    photo(alice, 1)
    Profile.objects.create(user=alice, bio="I like #hills")
    bob_site = signed_in(bob)

    page = bob_site.get("/u/alice/").content.decode()
    followed = bob_site.post("/u/alice/follow/", {"follow": "1"}, headers=HTMX).content.decode()
    unfollowed = bob_site.post("/u/alice/follow/", {"follow": "0"}, headers=HTMX).content.decode()

    assert "@alice" in page and '<a class="hashtag" href="/t/hills/">#hills</a>' in page
    assert "<strong>1</strong> public photo<" in page and ">Follow</button>" in page
    assert '<strong class="followers">1</strong> follower<' in followed and ">Unfollow</button>" in followed
    assert '<strong class="followers">0</strong> followers' in unfollowed
    assert Follow.objects.count() == 0
    assert "Edit profile" in signed_in(alice).get("/u/alice/").content.decode()
    assert Client().get("/u/nobody-here/").status_code == 404
    assert bob_site.post("/u/nobody-here/follow/").status_code == 404


def test_following_oneself_is_a_400_that_says_so(alice: User) -> None:
    answer = signed_in(alice).post("/u/alice/follow/", {"follow": "1"}, headers=HTMX)

    assert answer.status_code == 400 and "You cannot follow yourself." in answer.content.decode()
    assert Follow.objects.count() == 0


def avatar_file(data: bytes, name: str = "me.png") -> io.BytesIO:
    file = io.BytesIO(data)
    file.name = name
    return file


def test_editing_my_profile_saves_the_bio_and_a_new_picture_becomes_my_public_avatar(alice: User) -> None:
    site = signed_in(alice)

    answer = site.post(
        "/profile/edit/", {"bio": "Hello #world", "avatar_file": avatar_file(image_bytes("PNG"))}
    )

    assert answer.status_code == 302 and answer["Location"] == "/u/alice/"
    profile = Profile.objects.get(user=alice)
    assert profile.bio == "Hello #world" and profile.avatar is not None
    assert profile.avatar.visibility == "public" and profile.avatar.owner == alice
    assert f"/files/photos/{profile.avatar.pk}/grid" in site.get("/u/alice/").content.decode()
    site.post("/profile/edit/", {"bio": "Hello #world", "avatar": "none"})
    assert Profile.objects.get(user=alice).avatar is None


def test_a_bad_picture_or_a_too_long_bio_is_a_400_that_says_why_and_saves_nothing(
    alice: User, shared_fs: Path
) -> None:
    Profile.objects.create(user=alice, bio="as it was")
    site = signed_in(alice)
    files_before = stored_files(shared_fs)

    not_an_image = site.post(
        "/profile/edit/", {"bio": "new words", "avatar_file": avatar_file(b"not a photo")}
    )
    too_long = site.post("/profile/edit/", {"bio": "x" * 501, "avatar_file": avatar_file(image_bytes())})
    not_mine = site.post("/profile/edit/", {"bio": "new words", "avatar": "999999"})

    assert not_an_image.status_code == 400 and "not an image we can read" in not_an_image.content.decode()
    assert "new words</textarea>" in not_an_image.content.decode()  # what was typed comes back
    assert too_long.status_code == 400 and "the limit is 500" in too_long.content.decode()
    assert not_mine.status_code == 400 and "is not one of your public photos" in not_mine.content.decode()
    assert Profile.objects.get(user=alice).bio == "as it was" and Photo.objects.count() == 0
    assert stored_files(shared_fs) == files_before


# ---------------------------------------------------------------- notifications


def test_the_header_counts_unread_notifications_and_the_page_links_to_what_happened(
    alice: User, bob: User
) -> None:
    pic = photo(alice, 1)
    bob_site, alice_site = signed_in(bob), signed_in(alice)
    bob_site.post(f"/p/{pic.pk}/comments/", {"body": "What a <sky>"})
    bob_site.post(f"/p/{pic.pk}/favourite/", {"favourite": "1"})
    bob_site.post("/u/alice/follow/", {"follow": "1"})

    header = alice_site.get("/").content.decode()
    page = alice_site.get("/notifications/").content.decode()

    assert (
        'aria-label="3 unread">3</span>' in header
        and 'id="unread-count"' not in bob_site.get("/").content.decode()
    )
    assert f'href="/p/{pic.pk}/#comments">commented on your photo</a>: <q>What a &lt;sky&gt;</q>' in page
    assert f'href="/p/{pic.pk}/">added your photo to their favourites</a>' in page
    assert 'href="/u/bob/">started following you</a>' in page
    marked = alice_site.post("/notifications/read/", follow=True).content.decode()
    assert "Marked 3 notifications read." in marked and 'id="unread-count"' not in marked
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    assert "Nothing yet" in bob_site.get("/notifications/").content.decode()


def test_an_album_shared_with_someone_is_a_notification_that_links_to_the_album(
    alice: User, bob: User
) -> None:
    album = create_album(owner=alice, title="Lake trip")
    invite(user=alice, album=album, username="bob", role="viewer")

    page = signed_in(bob).get("/notifications/").content.decode()

    assert f'href="/a/{album.pk}/">shared an album with you</a>: Lake trip' in page
