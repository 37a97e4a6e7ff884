"""Debian's nginx with the shipped deploy/nginx.conf, in front of shop processes on loopback ports.

Only what differs on a test machine is rewritten (the listening port, the
upstream ports, the static folder and nginx's own paths); everything else is
the file as deployed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from burts_books.infra import resources
from tests.shop_process import free_port, port_answers, stop_process, wait_until_serving

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_START_TIMEOUT = 10.0
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
# Started as root, nginx's workers drop to `nobody`, who cannot read a checkout in
# an owner-only folder (a clone under a 0700 home, a `mktemp -d`); keep them as us.
WORKER_USER = "user root;\n" if os.geteuid() == 0 else ""
_UPSTREAM = re.compile(r"(    server 127\.0\.0\.1:\d+( [^;\n]*)?;\n)+")


def site_config(listen: int, upstreams: list[int], covers: Path) -> str:
    text = (DEPLOY / "nginx.conf").read_text()
    options = _UPSTREAM.search(text).group(2) or ""
    servers = "".join(f"    server 127.0.0.1:{port}{options};\n" for port in upstreams)
    text, count = _UPSTREAM.subn(servers, text)
    assert count == 1, "deploy/nginx.conf should list its upstream servers in one block"
    text = text.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    text = text.replace("/srv/burts-books/var/covers/", f"{covers}/")
    return text.replace("/srv/burts-books/static/", f"{resources.STATIC}/")


def check_config(folder: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on the shipped site, as included from an http {} block."""
    (folder / "site.conf").write_text(site_config(free_port(), [free_port(), free_port()], folder / "covers"))
    (folder / "nginx.conf").write_text(
        f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\n"
        f"http {{ include /etc/nginx/mime.types; include {folder}/site.conf; }}\n"
    )
    return subprocess.run([NGINX, "-t", "-c", str(folder / "nginx.conf"), "-p", str(folder)],
                          capture_output=True, text=True)


class Nginx:
    """nginx on a free loopback port in front of `upstreams`; `url` is the site's address.
    It serves uploaded covers from `covers` (folder/covers)."""

    def __init__(self, folder: Path, upstreams: list[int]):
        if not Path(NGINX).exists():
            pytest.fail("nginx is missing: `make test` installs it (apt-get install nginx)", pytrace=False)
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.covers = folder / "covers"
        (folder / "site.conf").write_text(site_config(self.port, upstreams, self.covers))
        (folder / "nginx.conf").write_text(
            # A worker per core, as Debian's own nginx.conf has it.
            f"{WORKER_USER}worker_processes auto;\ndaemon off;\n"
            f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
            "events {}\n"
            f"http {{\n  include /etc/nginx/mime.types;\n  access_log off;\n"
            f"  client_body_temp_path {folder}; proxy_temp_path {folder};\n"
            f"  include {folder}/site.conf;\n}}\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> Nginx:
        with open(self.folder / "nginx.out", "wb") as output:
            self.process = subprocess.Popen([NGINX, "-c", str(self.folder / "nginx.conf"), "-p", str(self.folder)],
                                            stderr=subprocess.STDOUT, stdout=output)
        started = wait_until_serving(self.process, lambda: port_answers(self.port), NGINX_START_TIMEOUT)
        assert started, (self.folder / "nginx.out").read_text() + self.errors()
        return self

    def errors(self) -> str:
        log = self.folder / "error.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def stop(self) -> None:
        stop_process(self.process)
