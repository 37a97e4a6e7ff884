"""Attacks on connections: more held requests than the process has files, one address holding many, idle clients.

Each test runs a real `burts-books serve` process: what is attacked is its
accept loop, its open-file limit and its timeouts.
"""

import asyncio
import http.client
import re
import socket
import time
from pathlib import Path

import pytest

from tests.constants import PCI
from tests.shop_client import ShopClient, status_url
from tests.shop_process import ShopProcess, cpu_seconds
from tests.waiting import WAIT_TIMEOUT, result_of, until
from tests.websocket_client import connect, receive, subscribe

OPEN_FILES = 256  # the shop's open-file limit in the attack, soft and hard
HELD = 400  # long polls the attacker opens: more than the shop has files
CONNECT_TIMEOUT = 2.0  # past the listen backlog the kernel drops SYNs: those connections never open
WINDOW = 4.0  # seconds over which the held-off shop's CPU time and log are measured
HOLD = ("--long-poll-timeout-seconds=600",)  # polls stay held for the whole test


def open_file_limits(pid: int) -> tuple[int, int]:
    """(soft, hard) open-file limit of process `pid`, as the kernel has it."""
    found = re.search(r"^Max open files\s+(\d+)\s+(\d+)", Path(f"/proc/{pid}/limits").read_text(), re.M)
    return int(found.group(1)), int(found.group(2))


async def hold_polls(port: int, count: int) -> list[asyncio.StreamWriter]:
    """Open `count` connections, each sending a long poll that waits for a change; the ones that opened."""
    request = f"GET {status_url((PCI, 1))} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()

    async def one():
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), CONNECT_TIMEOUT)
        except (OSError, TimeoutError):
            return None
        writer.write(request)
        return writer

    return [writer for writer in await asyncio.gather(*(one() for _ in range(count))) if writer]


@pytest.mark.parametrize("flags, refusal", [
    ((), "the most allowed"),  # the default connection limit, below the open-file limit, holds them off
    (("--max-connections=100000",), "cannot accept connections (Too many open files)"),  # the files run out
], ids=["connection-limit", "out-of-files"])
@pytest.mark.gen_test(timeout=60)
async def test_more_held_polls_than_open_files_neither_spin_nor_flood_the_log(tmp_path, http_client, flags, refusal):
    shop = ShopProcess(tmp_path / "shop", *HOLD, "--max-live-per-address=100000", *flags,
                       open_files=(OPEN_FILES, OPEN_FILES))
    with shop:
        held = await hold_polls(shop.port, HELD)
        await until(lambda: refusal in shop.log(), timeout=10, message=f"no {refusal!r} in the log:\n{shop.log()}")

        log_before, cpu_before = len(shop.log()), cpu_seconds(shop.process.pid)
        await asyncio.sleep(WINDOW)  # the measurement: the attack goes on, the shop should sit quietly
        cpu = cpu_seconds(shop.process.pid) - cpu_before
        log_growth = len(shop.log()) - log_before
        print(f"{len(held)} connections opened; over {WINDOW} s the shop used {cpu:.2f} s of CPU "
              f"and logged {log_growth} bytes; log {len(shop.log())} bytes in all")
        assert cpu < 1.0, f"{cpu:.2f} s of CPU in {WINDOW} s: the accept loop spins"
        # A line at most (out of files, the embedded store also fails to save once a second: hence the
        # default limit's reserve); a spinning accept loop logs megabytes.
        assert log_growth < 10_000 and shop.log().count(refusal) == 1, shop.log()[-3000:]

        for writer in held:
            writer.close()
        page = await result_of(ShopClient(http_client, shop.url).get("/"), timeout=10,
                               message="no page answered once the polls were closed")
        assert page.code == 200


def test_the_open_file_limit_is_raised_to_the_hard_limit_at_start(tmp_path):
    with ShopProcess(tmp_path / "shop", open_files=(OPEN_FILES, 2 * OPEN_FILES)) as shop:
        assert open_file_limits(shop.process.pid) == (2 * OPEN_FILES, 2 * OPEN_FILES)
        assert f"open-file limit raised from {OPEN_FILES} to {2 * OPEN_FILES}" in shop.log()
        # The connection limit follows from it: 512 less the reserve of 100.
        assert "at most 412 client connections at once" in shop.log()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection; fails if it keeps it open past WAIT_TIMEOUT."""
    sock.settimeout(WAIT_TIMEOUT)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the connection is still open after {WAIT_TIMEOUT} s; received {received[:200]!r}")
    return received


@pytest.fixture
def impatient_shop(tmp_path):
    with ShopProcess(tmp_path / "shop", "--idle-connection-timeout-seconds=1", "--body-timeout-seconds=1") as shop:
        yield shop


@pytest.mark.parametrize("request_bytes, answer", [
    # A keep-alive connection left idle after its answer.
    (b"GET /books/ HTTP/1.1\r\nHost: shop\r\n\r\n", b"HTTP/1.1 200 OK"),
    # Headers that never end (slowloris): closed without a word.
    (b"GET /books/ HTTP/1.1\r\nHost: shop\r\nX-Slow: 1\r\n", None),
    # A body that never comes: closed without a word.
    (b"POST /cart HTTP/1.1\r\nHost: shop\r\nContent-Length: 100\r\n\r\naction=add", None),
], ids=["idle-keep-alive", "slow-headers", "slow-body"])
def test_idle_and_slow_connections_are_closed(impatient_shop, request_bytes, answer):
    with socket.create_connection(("127.0.0.1", impatient_shop.port), timeout=WAIT_TIMEOUT) as sock:
        sock.sendall(request_bytes)
        received = read_until_closed(sock)
    if answer is None:
        assert received == b""
    else:
        assert received.startswith(answer)


def test_a_connection_in_use_is_never_closed_as_idle(tmp_path):
    with ShopProcess(tmp_path / "shop", "--idle-connection-timeout-seconds=1",
                     "--long-poll-timeout-seconds=2.5") as shop:
        connection = http.client.HTTPConnection("127.0.0.1", shop.port, timeout=WAIT_TIMEOUT)
        started = time.monotonic()
        connection.request("GET", status_url((PCI, 1)))  # held until it times out, past the idle timeout
        response = connection.getresponse()
        assert response.status == 200 and time.monotonic() - started >= 2.5
        response.read()
        sock = connection.sock
        for _ in range(6):  # a request every 0.4 s: never idle for the timeout's whole second
            time.sleep(0.4)
            connection.request("GET", "/healthz")
            with connection.getresponse() as answer:
                assert answer.status == 200 and answer.read()
        assert connection.sock is sock  # the same connection all along
        connection.close()


ALICE, BOB = {"X-Real-IP": "203.0.113.7"}, {"X-Real-IP": "198.51.100.9"}  # two clients, as nginx names them


def live_shop(tmp_path, *flags):
    return ShopProcess(tmp_path / "shop", *HOLD, "--max-live-per-address=2", *flags)


@pytest.mark.gen_test(timeout=30)
async def test_one_address_cannot_hold_more_than_its_share_of_live_connections(tmp_path, http_client):
    with live_shop(tmp_path, "--xheaders") as shop:
        shopper = ShopClient(http_client, shop.url)

        def poll(client):
            return asyncio.ensure_future(shopper.get(status_url((PCI, 1)), headers=client))

        polls = [poll(ALICE) for _ in range(3)]
        done, held = await asyncio.wait(polls, timeout=WAIT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        [refused] = done
        assert refused.result().code == 429 and refused.result().headers["Retry-After"] == "10"
        assert "Too many live connections" in refused.result().json()["error"]["message"]

        # A WebSocket counts too: it is closed with a reason a program can read.
        socket = await connect(shop.url, headers=ALICE)
        assert await asyncio.wait_for(socket.read_message(), WAIT_TIMEOUT) is None
        assert socket.close_code == 1013 and "Too many live connections" in socket.close_reason

        # Another address is not held back by this one.
        bobs_socket = await connect(shop.url, headers=BOB)
        subscribe(bobs_socket, [PCI])
        assert (await receive(bobs_socket))["version"] == 1

        # A change answers the held polls, which gives their places back.
        assert (await shopper.cart_json("add")).code == 200
        for answered in held:
            assert (await answered).code == 200
        alices_socket = await connect(shop.url, headers=ALICE)
        subscribe(alices_socket, [PCI])
        assert (await receive(alices_socket))["version"] == 2
        alices_socket.close()
        bobs_socket.close()


@pytest.mark.gen_test(timeout=30)
async def test_without_xheaders_a_client_cannot_pose_as_other_addresses(tmp_path, http_client):
    with live_shop(tmp_path) as shop:
        shopper = ShopClient(http_client, shop.url)
        posing = [asyncio.ensure_future(shopper.get(status_url((PCI, 1)), headers={"X-Real-IP": f"192.0.2.{n}"}))
                  for n in range(3)]
        done, held = await asyncio.wait(posing, timeout=WAIT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        assert [answer.result().code for answer in done] == [429]
        assert (await shopper.cart_json("add")).code == 200
        assert [(await answer).code for answer in held] == [200, 200]
