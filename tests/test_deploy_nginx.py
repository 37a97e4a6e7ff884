"""deploy/nginx.conf for real: Debian's nginx in front of two shop processes (see tests/nginx_server.py)."""

import re

import pytest

from burts_books.catalog_csv import COLUMNS
from tests.constants import COOKIE_SECRET, JSON, PASSWORD, PCI, SHOPPER_EMAIL, STAFF_EMAIL, isbn_13
from tests.nginx_server import Nginx, check_config
from tests.shop_client import ShopClient
from tests.shop_process import ShopProcess, run_cli
from tests.websocket_client import connect, receive, subscribe


@pytest.fixture
def nginx_front(tmp_path):
    flags = ("--xheaders", f"--cookie-secret={COOKIE_SECRET}")
    shops = [ShopProcess(tmp_path / name, *flags) for name in ("a", "b")]
    nginx = Nginx(tmp_path / "nginx", [shop.port for shop in shops])
    try:
        for shop in shops:
            shop.start()
        yield nginx.start().url
    finally:
        nginx.stop()
        for shop in shops:
            shop.stop()


def test_the_deployed_config_passes_nginx_own_check(tmp_path):
    check = check_config(tmp_path)
    assert check.returncode == 0, check.stderr


@pytest.mark.gen_test(timeout=30)
async def test_pages_static_files_and_the_live_feed_work_through_nginx(nginx_front, http_client):
    shopper = ShopClient(http_client, nginx_front)
    page = await shopper.get(f"/books/{PCI}")
    assert page.code == 200 and "Add to Cart" in page.text

    stylesheet = re.search(r'href="(/static/css/base\.css\?v=\w+)"', page.text).group(1)
    static = await shopper.get(stylesheet)
    # nginx's own `expires 30d`, not the app's ten years: served from disk by nginx.
    assert static.code == 200 and static.headers["Cache-Control"] == "max-age=2592000"

    # Metrics stay off the public site; an error page names the request, as the response header does.
    assert (await shopper.get("/metrics")).code == 403
    missing = await shopper.get("/no-such-page")
    assert missing.code == 404 and missing.headers["X-Request-Id"] in missing.text

    # The WebSocket upgrade crosses the proxy, and the Origin check sees the public Host.
    socket = await connect(nginx_front, origin=nginx_front)
    subscribe(socket, [PCI])
    first = await receive(socket)
    assert first["type"] == "state" and first["isbn"] == PCI

    # A long poll is held open through nginx and answered with the state.
    [book] = await shopper.poll((PCI, first["version"] - 1))
    assert book["version"] == first["version"]
    socket.close()


@pytest.mark.gen_test(timeout=30)
async def test_uploaded_covers_are_served_by_nginx_from_the_data_folder(nginx_front, http_client, tmp_path):
    covers = tmp_path / "nginx" / "covers"  # where a shop keeps a cover it has checked (burts_books/covers.py)
    covers.mkdir(parents=True, exist_ok=True)
    (covers / "0123456789abcdef01234567-480.webp").write_bytes(b"RIFF....WEBPVP8 ")
    visitor = ShopClient(http_client, nginx_front)
    cover = await visitor.get("/covers/0123456789abcdef01234567-480.webp")
    assert cover.code == 200 and cover.raw.body == b"RIFF....WEBPVP8 "
    assert cover.headers["Content-Type"] == "image/webp"
    assert cover.headers.get_list("Cache-Control") == ["max-age=31536000", "immutable"]
    assert (await visitor.get("/covers/missing-480.webp")).code == 404


def catalog_file(books: int) -> bytes:
    """A catalog import as staff export it from their own system: new books with long descriptions."""
    description = "A book staff import with the rest of the catalog. " * 8
    rows = [f"{isbn_13(n)},Book {n},,An Author,12.99,3,,{description}," for n in range(books)]
    return "\n".join([",".join(COLUMNS), *rows, ""]).encode()


@pytest.mark.gen_test(timeout=60)
async def test_staff_import_a_catalog_of_several_megabytes_through_nginx(tmp_path, http_client):
    data = tmp_path / "shop"
    data.mkdir()
    made = run_cli("create-user", STAFF_EMAIL, "--staff", data_dir=data, stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    catalog = catalog_file(6000)
    assert len(catalog) > 2 * 1024 * 1024  # over nginx's 1m for every other request
    with ShopProcess(data, f"--cookie-secret={COOKIE_SECRET}") as shop:
        nginx = Nginx(tmp_path / "nginx", [shop.port]).start()
        try:
            visitor = ShopClient(http_client, nginx.url)
            refused = await visitor.post_multipart("/staff/imports", {}, {"file": ("books.csv", "text/csv", catalog)})
            # Not staff: sent to sign in, and no import started.
            assert refused.code == 303 and refused.location.startswith("/login?")

            staff = ShopClient(http_client, nginx.url)
            await staff.login(STAFF_EMAIL)
            started = await staff.post_multipart("/staff/imports", {}, {"file": ("books.csv", "text/csv", catalog)})
            assert started.code == 303 and started.location.startswith("/staff/imports/"), started.text
            progress = (await staff.get(started.location, headers=JSON)).json()
            assert progress["status"] in ("running", "done") and progress["total"] == 6000
        finally:
            nginx.stop()


@pytest.fixture
def one_shop_front(tmp_path):
    """nginx in front of one shop process, whose store has a shopper's account."""
    data = tmp_path / "shop"
    data.mkdir()
    made = run_cli("create-user", SHOPPER_EMAIL, data_dir=data, stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    with ShopProcess(data, f"--cookie-secret={COOKIE_SECRET}") as shop:
        nginx = Nginx(tmp_path / "nginx", [shop.port]).start()
        try:
            yield nginx.url
        finally:
            nginx.stop()


@pytest.mark.parametrize("path, size", [("/staff/imports", 3 * 1024 * 1024), ("/add", 2 * 1024 * 1024)])
@pytest.mark.gen_test(timeout=60)
async def test_an_upload_refused_to_a_visitor_or_a_shopper_is_answered_through_nginx(one_shop_front, http_client,
                                                                                    path, size):
    """The shop reads the file of anyone but staff only to drop it, then refuses: refused with the
    body unread, the connection would be reset, and nginx answer a 502 of its own."""
    files = {"file": ("books.csv", "text/csv", b"x" * size)}
    visitor = ShopClient(http_client, one_shop_front)
    sent_to_sign_in = await visitor.post_multipart(path, {}, files)
    assert sent_to_sign_in.code == 303 and sent_to_sign_in.location.startswith("/login?")

    shopper = ShopClient(http_client, one_shop_front)
    await shopper.login(SHOPPER_EMAIL)
    refused = await shopper.post_multipart(path, {}, files)
    assert refused.code == 403 and "staff only" in refused.text


@pytest.mark.gen_test(timeout=60)
async def test_a_body_too_large_for_nginx_gets_json_for_a_program_and_a_page_for_a_browser(one_shop_front, http_client):
    shopper = ShopClient(http_client, one_shop_front)
    await shopper.login(SHOPPER_EMAIL)
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    cart_before = (await shopper.get("/cart", headers=JSON)).json()["cart"]

    too_large = await shopper.post_json("/api/orders", {"name": "x" * 2 * 1024 * 1024, "revision": 1, "prices": ""})
    assert too_large.code == 413 and too_large.headers["Content-Type"] == "application/json"
    assert too_large.json()["error"] == {"status": 413, "message": "The request is too large for this address."}

    from_a_form = await shopper.post("/cart", {"action": "add", "isbn": PCI, "note": "x" * 2 * 1024 * 1024})
    assert from_a_form.code == 413 and from_a_form.headers["Content-Type"] == "text/html"
    assert "What you sent is too large for this page." in from_a_form.text

    assert (await shopper.get("/cart", headers=JSON)).json()["cart"] == cart_before
    assert await shopper.get_json("/api/orders") == {"orders": []}
