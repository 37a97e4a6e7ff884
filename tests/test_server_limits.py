"""Limits of the real `burts-books serve` process."""

import errno
import os
import signal
import socket
import time

import pytest

from tests.shop_process import ShopProcess


@pytest.fixture
def shop(tmp_path):
    with ShopProcess(tmp_path / "shop") as shop:
        yield shop


def test_a_huge_request_body_is_refused_before_it_is_read(shop):
    with socket.create_connection(("127.0.0.1", shop.port), timeout=5) as sock:
        sock.sendall(
            b"POST /cart HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 50000000\r\n\r\n"
        )
        # Refused at once from the headers; without a limit the server waits for 50 MB.
        status_line = sock.recv(1024).split(b"\r\n")[0]
    assert status_line == b"HTTP/1.1 400 Bad Request"


def test_a_burst_of_connections_waits_in_the_kernel_while_the_shop_is_busy(shop):
    """Tornado's listen backlog of 128 drops the SYNs of a larger burst (every page's live feed
    reconnecting after a restart), each to be sent again a second or more later; the shop's waits."""
    burst = 600
    os.kill(shop.process.pid, signal.SIGSTOP)  # busy: it accepts nothing until it goes on
    sockets = [socket.socket() for _ in range(burst)]
    try:
        for sock in sockets:
            sock.setblocking(False)
            assert sock.connect_ex(("127.0.0.1", shop.port)) in (0, errno.EINPROGRESS)
        time.sleep(0.5)  # well within a dropped SYN's first retry (1 s)
        assert sum(map(connected, sockets)) == burst
    finally:
        os.kill(shop.process.pid, signal.SIGCONT)
        for sock in sockets:
            sock.close()
    with socket.create_connection(("127.0.0.1", shop.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")


def connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()  # ENOTCONN while the handshake waits on a SYN sent again
    except OSError:
        return False
    return True
