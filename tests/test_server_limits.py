"""Limits of the real `burts-books serve` process."""

import socket

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
