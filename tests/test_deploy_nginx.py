"""deploy/nginx.conf for real: Debian's nginx in front of two shop processes.

The test rewrites only what differs on a test machine (the listening port,
the upstream ports, the static folder and nginx's own paths); everything
else is the file as deployed.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from burts_books.infra import resources
from tests.constants import COOKIE_SECRET, PCI
from tests.shop_client import ShopClient
from tests.shop_process import ShopProcess, free_port, port_answers, stop_process, wait_until_serving
from tests.websocket_client import connect, receive, subscribe

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_START_TIMEOUT = 10.0
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
# Started as root, nginx's workers drop to `nobody`, who cannot read a checkout in
# an owner-only folder (a clone under a 0700 home, a `mktemp -d`); keep them as us.
WORKER_USER = "user root;\n" if os.geteuid() == 0 else ""


def site_config(listen: int, upstreams: list[int], covers: Path) -> str:
    text = (DEPLOY / "nginx.conf").read_text()
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in upstreams)
    text, count = re.subn(r"(    server 127\.0\.0\.1:\d+;\n)+", servers, text)
    assert count == 1, "deploy/nginx.conf should list its upstream servers in one block"
    text = text.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    text = text.replace("/srv/burts-books/var/covers/", f"{covers}/")
    return text.replace("/srv/burts-books/static/", f"{resources.STATIC}/")


@pytest.fixture
def nginx_front(tmp_path):
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: `make test` installs it (apt-get install nginx)", pytrace=False)
    flags = ("--xheaders", f"--cookie-secret={COOKIE_SECRET}")
    shops = [ShopProcess(tmp_path / name, *flags) for name in ("a", "b")]
    port = free_port()
    (tmp_path / "site.conf").write_text(site_config(port, [shop.port for shop in shops], tmp_path / "a" / "covers"))
    (tmp_path / "nginx.conf").write_text(
        f"{WORKER_USER}daemon off;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\n"
        f"http {{\n  include /etc/nginx/mime.types;\n  access_log off;\n"
        f"  client_body_temp_path {tmp_path}; proxy_temp_path {tmp_path};\n"
        f"  include {tmp_path}/site.conf;\n}}\n"
    )
    nginx = None
    try:
        for shop in shops:
            shop.start()
        with open(tmp_path / "nginx.out", "wb") as output:
            nginx = subprocess.Popen([NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                                     stderr=subprocess.STDOUT, stdout=output)
        started = wait_until_serving(nginx, lambda: port_answers(port), NGINX_START_TIMEOUT)
        assert started, (tmp_path / "nginx.out").read_text() + (tmp_path / "error.log").read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(nginx)
        for shop in shops:
            shop.stop()


def test_the_deployed_config_passes_nginx_own_check(tmp_path):
    (tmp_path / "site.conf").write_text(site_config(free_port(), [free_port(), free_port()], tmp_path))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ include /etc/nginx/mime.types; include {tmp_path}/site.conf; }}\n"
    )
    check = subprocess.run([NGINX, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


@pytest.mark.gen_test(timeout=30)
async def test_pages_static_files_and_the_live_feed_work_through_nginx(nginx_front, http_client):
    shopper = ShopClient(http_client, nginx_front)
    page = await shopper.get(f"/books/{PCI}")
    assert page.code == 200 and "left in stock!" in page.text

    stylesheet = re.search(r'href="(/static/css/site\.css\?v=\w+)"', page.text).group(1)
    static = await shopper.get(stylesheet)
    # nginx's own `expires 30d`, not the app's ten years: served from disk by nginx.
    assert static.code == 200 and static.headers["Cache-Control"] == "max-age=2592000"

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
    covers = tmp_path / "a" / "covers"  # where the shop keeps a cover it has checked (burts_books/covers.py)
    covers.mkdir(parents=True, exist_ok=True)
    (covers / "0123456789abcdef01234567-480.webp").write_bytes(b"RIFF....WEBPVP8 ")
    visitor = ShopClient(http_client, nginx_front)
    cover = await visitor.get("/covers/0123456789abcdef01234567-480.webp")
    assert cover.code == 200 and cover.raw.body == b"RIFF....WEBPVP8 "
    assert cover.headers["Content-Type"] == "image/webp"
    assert cover.headers.get_list("Cache-Control") == ["max-age=31536000", "immutable"]
    assert (await visitor.get("/covers/missing-480.webp")).code == 404
