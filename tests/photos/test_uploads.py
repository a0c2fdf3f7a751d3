"""Uploading photos through the API: what is accepted, what is refused, and that a refusal
leaves nothing behind."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from api import volume
from api.photos import storage
from api.photos.location import GPS_IFD, gps_coordinates
from api.photos.models import Photo
from tests.helpers.clients import client_for, stored_files, upload
from tests.helpers.filesystems import tiny_filesystem
from tests.helpers.images import image_bytes

pytestmark = pytest.mark.django_db


def exif_bytes(
    orientation: int | None = None, taken: str | None = None, gps: tuple[float, float] | None = None
) -> bytes:
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    if taken:
        exif.get_ifd(0x8769)[36867] = taken
    if gps:
        directory = exif.get_ifd(GPS_IFD)
        latitude, longitude = gps
        directory[1], directory[3] = ("N" if latitude >= 0 else "S"), ("E" if longitude >= 0 else "W")
        for tag, value in ((2, abs(latitude)), (4, abs(longitude))):
            minutes, seconds = divmod(value * 3600, 60)
            directory[tag] = (float(int(minutes // 60)), float(int(minutes % 60)), round(seconds, 4))
    return exif.tobytes()


def photo_with_gps(
    fmt: str = "JPEG",
    gps: tuple[float, float] = (-33.856784, 151.215297),
    color: tuple[int, ...] = (9, 99, 199),
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), color).save(
        out, format=fmt, exif=exif_bytes(orientation=6, taken="2023:01:02 03:04:05", gps=gps)
    )
    return out.getvalue()


def jpeg_scan(data: bytes) -> bytes:
    """The compressed pixels: everything from the start-of-scan marker on."""
    return data[data.index(b"\xff\xda") :]


class TestAcceptedImages:
    @pytest.mark.parametrize(
        ("fmt", "mode", "color", "name"),
        [
            ("JPEG", "RGB", (10, 120, 200), "a.jpg"),
            ("PNG", "RGBA", (10, 120, 200, 128), "a.png"),
            ("WEBP", "RGB", (10, 120, 200), "a.webp"),
            ("GIF", "P", 3, "a.gif"),
            ("JPEG", "CMYK", (0, 50, 100, 0), "cmyk.jpg"),
            ("PNG", "I;16", 40000, "deep.png"),
            ("PNG", "L", 90, "grey.png"),
        ],
    )
    def test_an_image_of_each_supported_kind_is_stored_with_thumbnails(
        self, alice: User, shared_fs: Path, fmt: str, mode: str, color: tuple[int, ...] | int, name: str
    ) -> None:
        response = upload(client_for(alice), image_bytes(fmt, (80, 60), color, mode), name, caption="Hi")

        assert response.status_code == 201, response.json()
        body = response.json()
        assert (body["width"], body["height"], body["status"], body["caption"]) == (80, 60, "pending", "Hi")
        photo = Photo.objects.get(pk=body["id"])
        assert volume.original_path(photo.content_hash, photo.file_ext).exists()
        for size in volume.THUMB_SIZES:
            with Image.open(volume.thumb_path(photo.content_hash, size)) as thumb:
                assert thumb.mode == "RGB"

    @pytest.mark.parametrize(
        ("fmt", "name", "ext", "mime"),
        [
            ("PNG", "holiday.jpg", "png", "image/png"),
            ("JPEG", "holiday.gif", "jpg", "image/jpeg"),
            ("WEBP", "holiday.png", "webp", "image/webp"),
            ("JPEG", "no-extension", "jpg", "image/jpeg"),
        ],
    )
    def test_the_file_name_does_not_decide_the_format_the_content_does(
        self, alice: User, bob: User, fmt: str, name: str, ext: str, mime: str
    ) -> None:
        response = upload(client_for(alice), image_bytes(fmt, (40, 30), (90, 10, 10)), name)

        assert response.status_code == 201
        photo = Photo.objects.get(pk=response.json()["id"])
        assert (photo.file_ext, photo.mime_type) == (ext, mime)
        assert volume.original_path(photo.content_hash, ext).exists()
        served = client_for(bob).get(f"/files/photos/{photo.pk}/original")
        assert served["Content-Type"] == mime and served["X-Content-Type-Options"] == "nosniff"

    def test_a_palette_png_with_transparency_becomes_rgb_on_white(self, alice: User) -> None:
        image = Image.new("P", (20, 20), 0)
        image.putpalette([255, 0, 0] * 256)
        out = io.BytesIO()
        image.save(out, format="PNG", transparency=0)

        response = upload(client_for(alice), out.getvalue(), "clear.png")

        assert response.status_code == 201
        photo = Photo.objects.get(pk=response.json()["id"])
        with Image.open(volume.thumb_path(photo.content_hash, "grid")) as thumb:
            assert thumb.getpixel((10, 10))[0] > 240 and thumb.getpixel((10, 10))[1] > 240  # type: ignore[index]

    def test_an_animated_gif_is_accepted_as_its_first_frame(self, alice: User) -> None:
        frames = [Image.new("P", (30, 20), i) for i in (1, 2, 3)]
        out = io.BytesIO()
        frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100)

        response = upload(client_for(alice), out.getvalue(), "anim.gif")

        assert response.status_code == 201
        assert (response.json()["width"], response.json()["height"]) == (30, 20)

    def test_exif_orientation_is_applied_and_the_date_taken_recorded(self, alice: User) -> None:
        # A landscape sensor image marked "rotate 90": people see it as portrait.
        sensor = Image.new("RGB", (120, 60), (0, 0, 0))
        sensor.paste((255, 255, 255), (0, 0, 60, 60))  # white on the left half
        out = io.BytesIO()
        sensor.save(out, format="JPEG", exif=exif_bytes(orientation=6, taken="2021:07:14 18:30:05"))

        response = upload(client_for(alice), out.getvalue(), "rotated.jpg")

        body = response.json()
        assert (body["width"], body["height"]) == (60, 120)
        assert body["taken_at"].startswith("2021-07-14T18:30:05")
        photo = Photo.objects.get(pk=body["id"])
        with Image.open(volume.thumb_path(photo.content_hash, "display")) as thumb:
            assert thumb.size == (60, 120)
            # Orientation 6 turns the left half to the top.
            assert sum(thumb.getpixel((30, 10))) > 600  # type: ignore[arg-type]
            assert sum(thumb.getpixel((30, 110))) < 100  # type: ignore[arg-type]

    def test_tags_given_at_upload_are_the_owners_confirmed_tags(self, alice: User) -> None:
        response = upload(client_for(alice), image_bytes(), tags="Beach, #sunset")

        tags = {t["name"]: t for t in response.json()["tags"]}
        assert set(tags) == {"beach", "sunset"}
        assert tags["beach"]["source"] == "user" and tags["beach"]["state"] == "confirmed"
        assert tags["beach"]["added_by"] == "alice"

    def test_thumbnails_are_no_larger_than_their_configured_sizes(
        self, alice: User, settings: object
    ) -> None:
        response = upload(client_for(alice), image_bytes("JPEG", (2400, 1200)))

        photo = Photo.objects.get(pk=response.json()["id"])
        with Image.open(volume.thumb_path(photo.content_hash, "grid")) as grid:
            assert max(grid.size) == 400
        with Image.open(volume.thumb_path(photo.content_hash, "display")) as display:
            assert max(display.size) <= 1600

    def test_the_same_file_from_two_people_is_stored_once(
        self, alice: User, bob: User, shared_fs: Path
    ) -> None:
        data = image_bytes(color=(1, 2, 3))
        upload(client_for(alice), data)
        files_after_first = stored_files(shared_fs)

        upload(client_for(bob), data)

        assert Photo.objects.count() == 2
        assert stored_files(shared_fs) == files_after_first

    def test_uploading_the_same_photo_twice_points_to_the_first(self, alice: User) -> None:
        first = upload(client_for(alice), image_bytes(color=(9, 9, 9))).json()

        again = upload(client_for(alice), image_bytes(color=(9, 9, 9)))

        assert again.status_code == 409
        assert again.json()["existing_id"] == first["id"]
        assert "already uploaded" in again.json()["detail"]


class TestLocation:
    """EXIF GPS: kept in the database for the owner, never in the file others can download."""

    def stored_original(self, photo_id: int) -> bytes:
        photo = Photo.objects.get(pk=photo_id)
        return volume.original_path(photo.content_hash, photo.file_ext).read_bytes()

    def test_the_location_is_read_at_upload_and_shown_to_the_owner_alone(
        self, alice: User, bob: User
    ) -> None:
        photo = upload(client_for(alice), photo_with_gps(), "harbour.jpg").json()

        mine = client_for(alice).get(f"/api/photos/{photo['id']}/").json()
        assert (mine["latitude"], mine["longitude"]) == pytest.approx((-33.856784, 151.215297), abs=1e-5)
        assert mine["show_location"] is False
        for viewer in (bob, None):
            theirs = client_for(viewer).get(f"/api/photos/{photo['id']}/").json()
            assert (theirs["latitude"], theirs["longitude"]) == (None, None)
            feed = client_for(viewer).get("/api/photos/").json()["results"]
            assert [(p["latitude"], p["longitude"]) for p in feed] == [(None, None)]
        owner_page, other_page = Client(), Client()
        owner_page.force_login(alice)
        other_page.force_login(bob)
        assert "-33.85678" in owner_page.get(f"/p/{photo['id']}/").content.decode()
        assert "-33.85678" not in other_page.get(f"/p/{photo['id']}/").content.decode()

    def test_the_stored_original_loses_only_its_gps_keeping_pixels_orientation_and_date(
        self, alice: User, bob: User
    ) -> None:
        sent = photo_with_gps()

        photo = upload(client_for(alice), sent, "harbour.jpg").json()

        stored = self.stored_original(photo["id"])
        served = client_for(bob).get(f"/files/photos/{photo['id']}/original").getvalue()
        assert served == stored
        assert jpeg_scan(stored) == jpeg_scan(sent)  # not re-encoded: the same compressed pixels
        with Image.open(io.BytesIO(stored)) as image:
            exif = image.getexif()
            assert dict(exif.get_ifd(GPS_IFD)) == {}
            assert exif[0x0112] == 6
            assert exif.get_ifd(0x8769)[36867] == "2023:01:02 03:04:05"
        assert (photo["width"], photo["height"]) == (32, 48)  # still shown upright
        assert Photo.objects.get(pk=photo["id"]).byte_size == len(stored)

    def test_thumbnails_are_re_encoded_and_carry_no_exif_at_all(self, alice: User) -> None:
        photo = Photo.objects.get(pk=upload(client_for(alice), photo_with_gps()).json()["id"])

        for size in volume.THUMB_SIZES:
            with Image.open(volume.thumb_path(photo.content_hash, size)) as thumb:
                assert dict(thumb.getexif()) == {}
                assert "exif" not in thumb.info

    def test_the_owner_chooses_to_show_the_location_at_upload_or_later(self, alice: User, bob: User) -> None:
        shown = upload(client_for(alice), photo_with_gps(color=(1, 1, 1)), show_location="true").json()
        hidden = upload(client_for(alice), photo_with_gps(color=(2, 2, 2))).json()

        assert client_for(bob).get(f"/api/photos/{shown['id']}/").json()["latitude"] == pytest.approx(
            -33.856784
        )
        assert client_for(bob).get(f"/api/photos/{hidden['id']}/").json()["latitude"] is None

        changed = client_for(alice).patch(
            f"/api/photos/{hidden['id']}/", {"show_location": True}, format="json"
        )
        assert changed.status_code == 200 and changed.json()["show_location"] is True
        assert client_for(bob).get(f"/api/photos/{hidden['id']}/").json()["longitude"] == pytest.approx(
            151.215297
        )
        assert (
            client_for(bob)
            .patch(f"/api/photos/{hidden['id']}/", {"show_location": False}, format="json")
            .status_code
            == 403
        )

    def test_an_edit_that_does_not_mention_the_location_leaves_it_shown(self, alice: User) -> None:
        photo = upload(client_for(alice), photo_with_gps(), show_location="true").json()

        edited = client_for(alice).patch(
            f"/api/photos/{photo['id']}/", {"caption": "Harbour"}, format="multipart"
        )

        assert edited.status_code == 200
        assert (edited.json()["caption"], edited.json()["show_location"]) == ("Harbour", True)

    def test_the_owner_hides_the_location_again_on_the_photo_page(self, alice: User) -> None:
        photo = upload(client_for(alice), photo_with_gps(), show_location="true").json()
        page = Client()
        page.force_login(alice)

        page.post(f"/p/{photo['id']}/edit/", {"caption": "", "show_location": ["0"]})
        assert Photo.objects.get(pk=photo["id"]).show_location is False
        page.post(f"/p/{photo['id']}/edit/", {"caption": "", "show_location": ["0", "1"]})
        assert Photo.objects.get(pk=photo["id"]).show_location is True
        page.post(f"/p/{photo['id']}/edit/", {"caption": "no checkbox in this form"})
        assert Photo.objects.get(pk=photo["id"]).show_location is True

    def test_the_same_photo_with_gps_is_still_found_as_a_duplicate_and_stored_once(
        self, alice: User, bob: User, shared_fs: Path
    ) -> None:
        data = photo_with_gps()
        first = upload(client_for(alice), data).json()
        files = stored_files(shared_fs)

        again = upload(client_for(alice), data)
        bobs = upload(client_for(bob), data)

        assert again.status_code == 409 and again.json()["existing_id"] == first["id"]
        assert bobs.status_code == 201
        assert stored_files(shared_fs) == files

    @pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
    def test_gps_is_taken_out_of_png_and_webp_files_too(self, alice: User, fmt: str) -> None:
        photo = upload(client_for(alice), photo_with_gps(fmt), f"a.{fmt.lower()}").json()

        assert photo["latitude"] == pytest.approx(-33.856784)
        with Image.open(io.BytesIO(self.stored_original(photo["id"]))) as image:
            assert dict(image.getexif().get_ifd(GPS_IFD)) == {}
            assert image.getexif()[0x0112] == 6

    def test_an_xmp_packet_naming_the_location_is_dropped(self, alice: User) -> None:
        out = io.BytesIO()
        xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>33,51.4N</exif:GPSLatitude></x:xmpmeta>'
        Image.new("RGB", (16, 16), (4, 5, 6)).save(out, format="JPEG", xmp=xmp)

        photo = upload(client_for(alice), out.getvalue()).json()

        assert b"GPSLatitude" not in self.stored_original(photo["id"])
        assert jpeg_scan(self.stored_original(photo["id"])) == jpeg_scan(out.getvalue())

    @pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # Pillow says so; that is the case
    def test_an_exif_block_that_does_not_hold_together_is_dropped_whole(self, alice: User) -> None:
        # IFD0 with one entry, a GPS pointer far past the end of the block.
        tiff = b"MM\x00*" + struct.pack(">IH", 8, 1) + struct.pack(">HHII", GPS_IFD, 4, 1, 99_999) + b"\0" * 4
        good = image_bytes("JPEG", (16, 16), (7, 8, 9))
        app1 = b"Exif\x00\x00" + tiff
        broken = good[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + good[2:]

        response = upload(client_for(alice), broken)

        assert response.status_code == 201
        stored = self.stored_original(response.json()["id"])
        assert b"Exif\x00\x00" not in stored and jpeg_scan(stored) == jpeg_scan(good)

    @pytest.mark.parametrize(
        ("gps", "expected"),
        [
            ({1: "N", 2: (48.0, 51.0, 29.52), 3: "W", 4: (2.0, 17.0, 40.2)}, (48.8582, -2.2945)),
            ({1: "N", 2: (91.0, 0.0, 0.0), 3: "E", 4: (2.0, 0.0, 0.0)}, None),
            ({1: "N", 2: (1.0, 2.0), 3: "E", 4: (2.0, 0.0, 0.0)}, None),
            ({1: "N", 3: "E", 4: (2.0, 0.0, 0.0)}, None),
            ({1: "S", 2: (IFDRational(1, 0), 0.0, 0.0), 3: "E", 4: (2.0, 0.0, 0.0)}, None),
        ],
        ids=["west", "latitude-out-of-range", "two-parts", "no-latitude", "zero-denominator"],
    )
    def test_only_a_sensible_location_is_kept(
        self, gps: dict[int, object], expected: tuple[float, float] | None
    ) -> None:
        exif = Image.Exif()
        exif.get_ifd(GPS_IFD).update(gps)
        out = io.BytesIO()
        Image.new("RGB", (8, 8)).save(out, format="JPEG", exif=exif.tobytes())

        with Image.open(out) as image:
            found = gps_coordinates(image)

        assert found == (pytest.approx(expected, abs=1e-4) if expected else None)


def truncated_jpeg() -> bytes:
    data = image_bytes("JPEG", (400, 300), (30, 60, 90), quality=95)
    return data[: len(data) // 2]


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge canvas, with a few bytes of data: a decompression bomb."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


class TestRejectedUploads:
    @pytest.mark.parametrize(
        ("data", "name", "message"),
        [
            (b"", "empty.jpg", "The file is empty."),
            (b"just some text, not a picture", "notes.jpg", "not an image we can read"),
            (truncated_jpeg(), "cut.jpg", "damaged or incomplete"),
            (SVG, "vector.png", "not an image we can read"),
            (HTML, "page.gif", "not an image we can read"),
            (image_bytes("BMP"), "old.bmp", "BMP images are not supported"),
            (image_bytes("TIFF"), "scan.tiff", "TIFF images are not supported"),
            (png_bomb(30_000, 30_000), "bomb.png", "megapixels"),
        ],
        ids=["empty", "text", "truncated-jpeg", "svg", "html", "bmp", "tiff", "decompression-bomb"],
    )
    def test_a_bad_file_gets_a_400_with_a_clear_message_and_leaves_nothing(
        self, alice: User, shared_fs: Path, data: bytes, name: str, message: str
    ) -> None:
        response = upload(client_for(alice), data, name)

        assert response.status_code == 400
        assert message in response.json()["detail"]
        assert Photo.objects.count() == 0
        assert stored_files(shared_fs) == []

    def test_a_file_over_the_byte_limit_is_refused_before_it_is_read(
        self, alice: User, shared_fs: Path, settings: object
    ) -> None:
        settings.MAX_UPLOAD_BYTES = 10_000  # type: ignore[attr-defined]

        response = upload(client_for(alice), image_bytes("PNG", (300, 300), (1, 2, 3)) + b"\0" * 20_000)

        assert response.status_code == 400
        assert "the limit is" in response.json()["detail"]
        assert Photo.objects.count() == 0 and stored_files(shared_fs) == []

    def test_an_image_over_the_pixel_limit_is_refused(
        self, alice: User, shared_fs: Path, settings: object
    ) -> None:
        settings.MAX_IMAGE_PIXELS = 100_000  # type: ignore[attr-defined]

        response = upload(client_for(alice), image_bytes("PNG", (400, 300)))

        assert response.status_code == 400
        assert "400x300 pixels" in response.json()["detail"]
        assert stored_files(shared_fs) == []

    def test_an_invalid_visibility_or_tag_is_refused_before_anything_is_stored(
        self, alice: User, shared_fs: Path
    ) -> None:
        bad_visibility = upload(client_for(alice), image_bytes(), visibility="friends-only")
        bad_tag = upload(client_for(alice), image_bytes(), tags="good, not ok!")

        assert bad_visibility.status_code == 400 and "visibility" in bad_visibility.json()["detail"]
        assert bad_tag.status_code == 400 and "may contain only letters" in bad_tag.json()["detail"]
        assert Photo.objects.count() == 0 and stored_files(shared_fs) == []

    def test_an_upload_without_a_file_says_so(self, alice: User) -> None:
        response = client_for(alice).post("/api/photos/", {"caption": "no file"}, format="multipart")

        assert response.status_code == 400
        assert response.json()["detail"].startswith("image:")

    def test_an_anonymous_upload_is_refused(self, anonymous: object) -> None:
        response = upload(anonymous, image_bytes())  # type: ignore[arg-type]

        assert response.status_code == 401
        assert Photo.objects.count() == 0

    def test_a_failed_write_leaves_no_half_file_and_no_row(
        self, alice: User, shared_fs: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls = {"n": 0}
        real_replace = storage.os.replace

        def disk_full_on_second_file(src: str, dst: str) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(28, "No space left on device")
            real_replace(src, dst)

        monkeypatch.setattr(storage.os, "replace", disk_full_on_second_file)

        response = upload(client_for(alice), image_bytes(color=(5, 5, 5)))

        assert response.status_code == 507
        assert "No space left on device" in response.json()["detail"]
        assert Photo.objects.count() == 0
        assert stored_files(shared_fs) == []

    def test_an_upload_onto_a_really_full_disk_answers_507_and_leaves_no_half_file_and_no_row(
        self, alice: User, settings: Any, tmp_path: Path
    ) -> None:
        noise = Image.frombytes("RGB", (160, 120), random.Random(5).randbytes(160 * 120 * 3))
        out = io.BytesIO()
        noise.save(out, format="PNG")
        photo = out.getvalue()  # 58 KB that barely compresses; its thumbnails are 14 KB each
        pages = -(-len(photo) // 4096)
        # Room for the original and one page more: the first thumbnail runs out of space.
        with tiny_filesystem(tmp_path / "volume", size_kib=4 * (pages + 1)) as volume:
            settings.SHARED_FS = volume

            response = upload(client_for(alice), photo, "noise.png")

            assert response.status_code == 507
            assert response.json()["detail"] == (
                "The photo could not be saved (No space left on device). Please try again later."
            )
            assert Photo.objects.count() == 0
            assert stored_files(volume) == []  # neither the original nor a temporary file
            # The space is given back: a photo that fits is stored.
            assert upload(client_for(alice), image_bytes(color=(5, 6, 7))).status_code == 201
            assert len(stored_files(volume)) == 3
