"""Attacks on connections: more held requests than the process has files, one address holding many, idle clients.

Each test runs a real `burts-books serve` process: what is attacked is its
accept loop, its open-file limit and its timeouts.
"""

import asyncio

import pytest

from tests.constants import PCI
from tests.shop_client import ShopClient, status_url
from tests.shop_process import ShopProcess
from tests.waiting import WAIT_TIMEOUT
from tests.websocket_client import connect, receive, subscribe

HOLD = ("--long-poll-timeout-seconds=600",)  # polls stay held for the whole test


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
