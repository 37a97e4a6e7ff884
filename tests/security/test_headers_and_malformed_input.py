"""Attacks on the edges: what headers give away or let a cache keep, and input built to break parsers."""

import pytest

from tests.constants import PCI
from tests.store import store_snapshot
from tests.websocket_client import connect, receive, subscribe

PAGES = ["/", "/recommended/", "/books/", f"/books/{PCI}", "/cart", "/login", "/register", "/orders", "/add",
         "/account/tokens", "/no/such/page"]
JSON_ANSWERS = [f"/api/books/{PCI}", "/api/openapi.json", f"/cart/status?isbn={PCI}", "/api/books/0000000000"]


@pytest.mark.parametrize("path", PAGES + JSON_ANSWERS)
@pytest.mark.gen_test
async def test_no_page_can_be_kept_by_a_cache_or_names_the_framework(staff, path):
    response = await staff.get(path)
    assert response.code in (200, 404), path
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Server"] == "BurtsBooks"
    assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.gen_test
async def test_pages_say_what_the_browser_may_do_and_run_only_their_own_inline_code(staff, path):
    response = await staff.get(path)
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "script-src 'self' 'nonce-" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", JSON_ANSWERS)
@pytest.mark.gen_test
async def test_json_answers_allow_nothing_at_all(staff, path):
    response = await staff.get(path)
    assert response.headers["Content-Type"].startswith("application/json")
    # Opened in a browser, a JSON answer may load, run and style nothing, and be framed by no page.
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


@pytest.mark.gen_test
async def test_static_files_are_cached_but_carry_the_same_headers(client):
    response = await client.get("/static/css/base.css")
    assert response.code == 200 and "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers["Server"] == "BurtsBooks" and response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/static/css/base.css%00", "/static/%00", "/static/css/%00.css",
                                  "/static/../setup.cfg", "/static/%2e%2e/setup.cfg"])
@pytest.mark.gen_test
async def test_bad_static_paths_are_refused_not_errors(client, path):
    assert (await client.get(path)).code in (400, 403, 404)


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.gen_test
async def test_deeply_nested_json_is_a_clear_400_and_changes_nothing(client, services):
    before = await store_snapshot(services)
    response = await client.post_json("/cart", text=DEEP)
    assert response.code == 400 and response.json()["error"]["message"] == "The body is not valid JSON."
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_deeply_nested_json_over_the_websocket_gets_an_error_and_the_socket_stays(http_server, base_url):
    socket = await connect(base_url)
    socket.write_message("[" * 30_000 + "]" * 30_000)  # under the 64 KiB message limit, far past the stack
    assert (await receive(socket))["type"] == "error"
    subscribe(socket, [PCI])
    assert (await receive(socket))["isbn"] == PCI
    socket.close()
