"""Cover uploads on the add and edit forms: real images only, metadata stripped, re-encoded in the pages'
widths, kept under the data folder and served with a long cache."""

import csv
import io
import os

import pytest
from PIL import Image

from burts_books.catalog import book_form
from burts_books.catalog_csv import COLUMNS
from burts_books.covers import WIDTHS
from burts_books.importer import Importer, ImportFile, RejectsFile
from tests.constants import PCI, STAFF_EMAIL, UNKNOWN_ISBN
from tests.shop_client import field_errors, form_values, text_of
from tests.store import store_snapshot

SMALL_LIMIT = 64 * 1024


def image_file(kind, size=(600, 900), exif=None):
    """A real image of this kind (JPEG, PNG, WEBP), a gradient so it compresses like a picture."""
    picture = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    options = {"exif": exif} if exif is not None else {}
    picture.save(out, kind, **options)
    return out.getvalue()


def camera_exif():
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x013B] = "Ansel Adams"  # Artist
    exif[0x8825] = {2: (48.0, 51.0, 24.0)}  # GPS latitude: where the photo was taken
    return exif


async def edit_form(staff):
    return form_values((await staff.get(f"/edit/{PCI}")).text)


async def upload(staff, data, filename="cover.jpg", content_type="image/jpeg", path=f"/edit/{PCI}", form=None):
    form = form if form is not None else await edit_form(staff)
    return await staff.post_multipart(path, form, {"cover": (filename, content_type, data)})


def csv_file(path, record):
    """An import file of one record (its form fields)."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows([COLUMNS, [record[column] for column in COLUMNS]])
    return path


def stored_covers(settings):
    folder = settings.covers_dir
    return sorted(os.listdir(folder)) if folder.exists() else []


@pytest.mark.parametrize("kind, content_type", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
@pytest.mark.gen_test
async def test_each_kind_of_image_becomes_the_books_cover(staff, services, settings, kind, content_type):
    response = await upload(staff, image_file(kind), f"cover.{kind.lower()}", content_type)
    assert response.code == 303, response.text

    book = await services.db.books.find_one({"isbn": PCI})
    assert sorted(map(int, book["cover"])) == list(WIDTHS)
    assert book["image"] == book["cover"][str(max(WIDTHS))]
    for width in WIDTHS:
        served = await staff.get(book["cover"][str(width)])
        assert served.code == 200
        assert served.headers["Content-Type"] == "image/webp"
        assert "max-age=31536000" in served.headers["Cache-Control"]
        picture = Image.open(io.BytesIO(served.raw.body))
        assert (picture.format, picture.width, picture.height) == ("WEBP", width, width * 3 // 2)
    assert len(stored_covers(settings)) == len(WIDTHS)
    # The book's page shows the size that fits, and the larger one to dense screens.
    page = (await staff.get(f"/books/{PCI}")).text
    small, large = book["cover"]["240"], book["cover"]["480"]
    assert f'src="{small}" srcset="{small} 1x, {large} 2x"' in page
    assert {"field": "image", "old": "/static/images/9780596529321.svg", "new": book["image"]}.items() <= (
        await services.db.history.find_one({"isbn": PCI, "field": "image"})).items()


@pytest.mark.gen_test
async def test_a_new_book_can_come_with_its_cover(staff, services):
    form = {**await edit_form(staff), "isbn": UNKNOWN_ISBN, "title": "With a Cover", "stock_seen": ""}
    response = await upload(staff, image_file("PNG"), "c.png", "image/png", path="/add", form=form)
    assert (response.code, response.location) == (303, f"/edit/{UNKNOWN_ISBN}")
    book = await services.db.books.find_one({"isbn": UNKNOWN_ISBN})
    assert book["image"].startswith("/covers/") and book["updated_by"] == STAFF_EMAIL


@pytest.mark.gen_test
async def test_metadata_is_gone_after_upload(staff, services):
    original = image_file("JPEG", exif=camera_exif())
    assert b"SecretCam" in original and Image.open(io.BytesIO(original)).getexif()
    await upload(staff, original)

    book = await services.db.books.find_one({"isbn": PCI})
    for address in book["cover"].values():
        body = (await staff.get(address)).raw.body
        picture = Image.open(io.BytesIO(body))
        assert not picture.getexif() and "exif" not in picture.info and "icc_profile" not in picture.info
        assert b"SecretCam" not in body and b"Ansel" not in body


@pytest.mark.parametrize("data, filename, content_type, message", [
    (b"<script>alert(1)</script>" * 20, "cover.jpg", "image/jpeg", "This file is not a JPEG, PNG or WebP image."),
    (image_file("GIF"), "cover.png", "image/png", "This file is not a JPEG, PNG or WebP image."),
    (image_file("PNG")[:300], "cover.png", "image/png", "This image is damaged or incomplete"),
    (image_file("PNG", size=(2000, 100)), "cover.png", "image/png", "A cover is at most 4 times as tall"),
])
@pytest.mark.gen_test
async def test_a_file_that_is_not_a_good_image_is_refused_on_the_form(staff, services, settings,
                                                                      data, filename, content_type, message):
    before = await store_snapshot(services)
    form = await edit_form(staff)
    response = await upload(staff, data, filename, content_type, form={**form, "title": "Changed"})
    assert response.code == 400
    assert field_errors(response.text)["cover"].startswith(message)
    assert "nothing was saved" in text_of(response.text)
    assert form_values(response.text)["title"] == "Changed"  # what was typed is kept
    assert await store_snapshot(services) == before
    assert stored_covers(settings) == []


@pytest.mark.settings(max_cover_bytes=SMALL_LIMIT)
@pytest.mark.gen_test
async def test_a_file_over_the_size_limit_is_refused(staff, services, settings):
    large = os.urandom(SMALL_LIMIT // 2)
    noisy = Image.frombytes("L", (256, len(large) // 256), large).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "PNG")
    assert len(out.getvalue()) > SMALL_LIMIT
    before = await store_snapshot(services)
    response = await upload(staff, out.getvalue(), "big.png", "image/png")
    assert response.code == 400
    assert field_errors(response.text)["cover"] == "The image is larger than 64 KB; upload a smaller one."
    # Far larger, the shop stops reading it (nginx would answer 413 first).
    response = await upload(staff, out.getvalue() * 3, "huge.png", "image/png")
    assert response.code not in (200, 303)
    assert await store_snapshot(services) == before
    assert stored_covers(settings) == []


@pytest.mark.gen_test
async def test_uploading_needs_staff_and_the_xsrf_token(staff, services, settings):
    form = await edit_form(staff)
    before = await store_snapshot(services)
    forged = await staff.post_multipart(f"/edit/{PCI}", form, {"cover": ("c.png", "image/png", image_file("PNG"))},
                                        xsrf=False)
    assert forged.code == 403
    anonymous = staff.another()
    response = await anonymous.post_multipart(f"/edit/{PCI}", form, {"cover": ("c.png", "image/png", b"x")})
    assert (response.code, response.location) == (303, "/login?next=%2F")
    assert await store_snapshot(services) == before
    assert stored_covers(settings) == []


@pytest.mark.gen_test
async def test_an_address_cover_still_works_and_replaces_an_uploaded_one(staff, services):
    await upload(staff, image_file("PNG"), "c.png", "image/png")
    form = {**await edit_form(staff), "image": "https://covers.example/pci.png"}
    assert form_values((await staff.get(f"/edit/{PCI}")).text)["image"].startswith("/covers/")
    await staff.post(f"/edit/{PCI}", form)
    book = await services.db.books.find_one({"isbn": PCI})
    assert (book["image"], book["cover"]) == ("https://covers.example/pci.png", {})


@pytest.mark.gen_test
async def test_a_missing_cover_file_is_404(client):
    assert (await client.get("/covers/0123456789abcdef01234567-480.webp")).code == 404
    assert (await client.get("/covers/../cookie-secret")).code in (403, 404)


@pytest.mark.gen_test
async def test_a_second_upload_replaces_the_first_with_all_its_sizes(staff, services):
    await upload(staff, image_file("PNG"), "first.png", "image/png")
    first = await services.db.books.find_one({"isbn": PCI})
    assert (await upload(staff, image_file("JPEG", size=(500, 800)), "second.jpg")).code == 303
    book = await services.db.books.find_one({"isbn": PCI})
    assert sorted(map(int, book["cover"])) == list(WIDTHS)
    assert set(book["cover"].values()).isdisjoint(first["cover"].values())
    page = (await staff.another().get(f"/books/{PCI}")).text
    assert f'src="{book["cover"][str(WIDTHS[0])]}"' in page  # the smallest size that fits the page's cover


@pytest.mark.gen_test
async def test_an_import_giving_another_image_replaces_an_uploaded_cover(staff, services, tmp_path):
    await upload(staff, image_file("PNG"), "c.png", "image/png")
    book = await services.db.books.find_one({"isbn": PCI}, {"_id": 0})
    feed = csv_file(tmp_path / "books.csv", {**book_form(book), "image": "https://covers.example/new-edition.png"})
    importer = Importer(services.catalog, "import of books.csv", RejectsFile(tmp_path / "rejects.csv", "line"))
    assert (await importer.run(ImportFile.open(feed))).updated == 1

    page = (await staff.another().get(f"/books/{PCI}")).text
    assert 'src="https://covers.example/new-edition.png"' in page
    assert "/covers/" not in page
