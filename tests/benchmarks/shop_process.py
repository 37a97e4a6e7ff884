"""Start a real `burts-books serve` process for a benchmark, on a free loopback port."""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_shop(*flags: str, env: dict | None = None):
    """Yield the base URL of a shop on a fresh embedded store; stop it afterwards."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        log = open(os.path.join(data_dir, "server.log"), "w+")
        process = subprocess.Popen(
            [sys.executable, "-m", "burts_books", "serve", f"--port={port}", f"--data-dir={data_dir}", *flags],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    urllib.request.urlopen(base_url + "/api/books", timeout=1)
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        raise RuntimeError("the shop did not start:\n" + log.read())
                    time.sleep(0.1)
            yield base_url
        finally:
            process.terminate()
            process.wait(timeout=10)
            log.close()
