"""deploy/nginx.conf for real: Debian's nginx in front of two shop processes.

The test rewrites only what differs on a test machine (the listening port,
the upstream ports, the static folder and nginx's own paths); everything
else is the file as deployed.
"""

import re
import subprocess
from pathlib import Path

import pytest

from tests.constants import COOKIE_SECRET, PCI
from tests.nginx_front import NGINX, NginxFront, site_config
from tests.shop_client import ShopClient
from tests.shop_process import ShopProcess, free_port
from tests.websocket_client import connect, receive, subscribe


@pytest.fixture
def nginx_front(tmp_path):
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: `make test` installs it (apt-get install nginx)", pytrace=False)
    flags = ("--xheaders", f"--cookie-secret={COOKIE_SECRET}")
    with ShopProcess(tmp_path / "a", *flags) as a, ShopProcess(tmp_path / "b", *flags) as b, \
            NginxFront(tmp_path, [a.port, b.port]) as url:
        yield url


def test_the_deployed_config_passes_nginx_own_check(tmp_path):
    (tmp_path / "site.conf").write_text(site_config(free_port(), [free_port(), free_port()]))
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
