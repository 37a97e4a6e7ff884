"""deploy/nginx.conf for real: Debian's nginx in front of two shop processes (see tests/nginx_server.py)."""

import re

import pytest

from tests.constants import COOKIE_SECRET, PCI
from tests.nginx_server import Nginx, check_config
from tests.shop_client import ShopClient
from tests.shop_process import ShopProcess
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
