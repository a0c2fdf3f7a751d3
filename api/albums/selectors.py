"""Who may see which album, and which of its photos. Every read of albums goes through here.

The rule (docs/architecture.md, 'Albums'):

- An album is seen by its owner, its members, anyone when it is public, and, when it is
  unlisted, by whoever holds its share link. A private album is its owner's and its members'.
- **An album never widens who may see a photo.** A viewer of the album sees exactly the photos
  in it they could open anyway without any link: public photos and their own. A private or
  unlisted photo in a shared album stays its owner's (and, for an unlisted one, its link
  holders', through the photo's own link, never through the album's).
- A cover the viewer may not see is not shown (the album shows none).
- Albums are listed (``listed_albums``) only where the viewer may see them without a link: public
  albums, their own and those they are a member of. Unlisted albums are never listed.
"""

from __future__ import annotations

from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from api.albums.models import Album, AlbumMember, AlbumPhoto, Role
from api.photos.models import Photo, Visibility
from api.photos.selectors import User, can_view, listed_photos


def listed_albums(viewer: User, *, owner: str | None = None) -> QuerySet[Album]:
    visible = Q(visibility=Visibility.PUBLIC)
    if viewer.is_authenticated:
        invited = AlbumMember.objects.filter(user_id=viewer.pk).values("album_id")
        visible |= Q(owner_id=viewer.pk) | Q(pk__in=invited)
    # A subquery, not a join with DISTINCT: the database can then read a page in the list's
    # order and work out the per-album facts (with_page_facts) for that page only.
    albums = Album.objects.filter(visible).select_related("owner", "cover")
    return albums.filter(owner__username=owner) if owner else albums


def role_of(viewer: User, album: Album) -> str | None:
    """'owner', 'contributor', 'viewer' or None."""
    if not viewer.is_authenticated:
        return None
    if album.owner_id == viewer.pk:
        return "owner"
    return AlbumMember.objects.filter(album=album, user_id=viewer.pk).values_list("role", flat=True).first()


def can_view_album(viewer: User, album: Album, share_token: str | None = None) -> bool:
    if album.visibility == Visibility.PUBLIC or role_of(viewer, album) is not None:
        return True
    return album.visibility == Visibility.UNLISTED and bool(share_token) and share_token == album.share_token


def viewable_album(viewer: User, album_id: int, share_token: str | None = None) -> Album | None:
    album = Album.objects.select_related("owner", "cover").filter(pk=album_id).first()
    if album is None or not can_view_album(viewer, album, share_token):
        return None
    return album


ADDERS = frozenset({"owner", Role.CONTRIBUTOR})  # the roles that add (their own) photos


def can_add_photos(viewer: User, album: Album) -> bool:
    return role_of(viewer, album) in ADDERS


def album_photos(viewer: User, album: Album) -> QuerySet[Photo]:
    """The album's photos the viewer may see, in the album's order (the viewer already passed
    ``can_view_album``)."""
    return (
        listed_photos(viewer)
        .filter(album_entries__album=album)
        .order_by("album_entries__position", "album_entries__id")
    )


def visible_cover(viewer: User, album: Album) -> Photo | None:
    cover = album.cover
    if cover is None or not can_view(viewer, cover):
        return None
    return cover


def entries_of(album: Album, photo_ids: list[int]) -> QuerySet[AlbumPhoto]:
    return AlbumPhoto.objects.filter(album=album, photo_id__in=photo_ids)


def _seen_photo(viewer: User, prefix: str) -> Q:
    """A photo the viewer may open without a link (the album rule), as a filter on ``prefix``."""
    seen = Q(**{f"{prefix}visibility": Visibility.PUBLIC})
    if viewer.is_authenticated:
        seen |= Q(**{f"{prefix}owner_id": viewer.pk})
    return seen


def with_page_facts(viewer: User, albums: QuerySet[Album]) -> QuerySet[Album]:
    """Each album with what a list of them shows, in the list's own query rather than one per
    album: ``seen_count`` (the photos in it the viewer may see), ``viewer_role`` ('owner',
    'contributor', 'viewer' or None) and ``cover_seen`` (whether the viewer may see its cover)."""
    counted = (
        AlbumPhoto.objects.filter(_seen_photo(viewer, "photo__"), album=OuterRef("pk"))
        .values("album")
        .annotate(n=Count("pk"))
        .values("n")
    )
    membership = AlbumMember.objects.filter(album=OuterRef("pk"), user_id=viewer.pk or 0).values("role")[:1]
    return albums.annotate(
        seen_count=Coalesce(Subquery(counted, output_field=IntegerField()), Value(0)),
        viewer_role=Case(When(owner_id=viewer.pk or 0, then=Value("owner")), default=Subquery(membership)),
        cover_seen=Case(
            When(_seen_photo(viewer, "cover__") & Q(cover__isnull=False), then=Value(True)),
            default=Value(False),
        ),
    ).select_related("owner", "cover")


def my_albums(viewer: User) -> QuerySet[Album]:
    """The viewer's own albums and those they were invited to, newest first, with the facts a
    list shows (``with_page_facts``)."""
    if not viewer.is_authenticated:
        return Album.objects.none()
    invited = AlbumMember.objects.filter(user_id=viewer.pk).values("album_id")
    return with_page_facts(viewer, Album.objects.filter(Q(owner_id=viewer.pk) | Q(pk__in=invited)))


def albums_to_add_to(viewer: User) -> QuerySet[Album]:
    """Albums the viewer may add their own photos to: their own and those they contribute to."""
    if not viewer.is_authenticated:
        return Album.objects.none()
    contributing = AlbumMember.objects.filter(user_id=viewer.pk, role=Role.CONTRIBUTOR).values("album_id")
    albums = Album.objects.filter(Q(owner_id=viewer.pk) | Q(pk__in=contributing))
    return albums.select_related("owner").order_by("title", "pk")


def members_of(album: Album) -> QuerySet[AlbumMember]:
    return AlbumMember.objects.filter(album=album).select_related("user").order_by("user__username")


def photos_to_add(viewer: User, album: Album) -> QuerySet[Photo]:
    """The viewer's own photos not yet in the album, newest first."""
    return Photo.objects.filter(owner_id=viewer.pk).exclude(album_entries__album=album).order_by("-pk")
