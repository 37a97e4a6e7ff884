"""Debian's nginx in front of shop processes, with deploy/nginx.conf as deployed.

Only what differs on a test machine is rewritten (the listening port, the
upstream ports, the static folder and nginx's own paths).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from burts_books.infra import resources
from tests.shop_process import free_port, port_answers, stop_process, wait_until_serving

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_START_TIMEOUT = 10.0
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
# Started as root, nginx's workers drop to `nobody`, who cannot read a checkout in
# an owner-only folder (a clone under a 0700 home, a `mktemp -d`); keep them as us.
WORKER_USER = "user root;\n" if os.geteuid() == 0 else ""


def site_config(listen: int, upstreams: list[int]) -> str:
    text = (DEPLOY / "nginx.conf").read_text()
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in upstreams)
    text, count = re.subn(r"(    server 127\.0\.0\.1:\d+;\n)+", servers, text)
    assert count == 1, "deploy/nginx.conf should list its upstream servers in one block"
    text = text.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    return text.replace("/srv/burts-books/static/", f"{resources.STATIC}/")


class NginxFront:
    """`with NginxFront(folder, [port, ...]) as url:` nginx serving on `url`, proxying to those ports."""

    def __init__(self, folder: Path, upstreams: list[int]):
        self.folder = Path(folder)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.upstreams = upstreams
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> str:
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "site.conf").write_text(site_config(self.port, self.upstreams))
        (folder / "nginx.conf").write_text(
            f"{WORKER_USER}daemon off;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
            "events {}\n"
            f"http {{\n  include /etc/nginx/mime.types;\n  access_log off;\n"
            f"  client_body_temp_path {folder}; proxy_temp_path {folder};\n"
            f"  include {folder}/site.conf;\n}}\n"
        )
        with open(folder / "nginx.out", "wb") as output:
            self.process = subprocess.Popen([NGINX, "-c", str(folder / "nginx.conf"), "-p", str(folder)],
                                            stderr=subprocess.STDOUT, stdout=output)
        if not wait_until_serving(self.process, lambda: port_answers(self.port), NGINX_START_TIMEOUT):
            stop_process(self.process)
            raise RuntimeError((folder / "nginx.out").read_text() + (folder / "error.log").read_text())
        return self.url

    def __exit__(self, *exc_info) -> None:
        stop_process(self.process)
