"""schemathesis fuzzes the JSON API from the OpenAPI document the shop serves.

Every answer must be one the document allows (status, content type, body,
headers), never a 5xx; bad input must be refused; and a refused request
must change nothing in the store. The shop runs in this process, on a loop
of its own in a thread, so the test can read its store between calls.
"""

import asyncio
import json
import threading

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.checks import positive_data_acceptance
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from burts_books.app import make_app
from burts_books.web.openapi import DOCUMENT_JSON
from tests.constants import PASSWORD, STAFF_EMAIL
from tests.store import close_test_services, open_test_services, shop_settings, store_snapshot

CALL_TIMEOUT = 30.0  # seconds for one step of starting, reading or stopping the shop


class ThreadedShop:
    """The shop on an event loop of its own thread, for synchronous callers such as schemathesis."""

    def __init__(self, settings):
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="shop", daemon=True)

    def run(self, coroutine):
        """Run `coroutine` on the shop's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CALL_TIMEOUT)

    def start(self):
        self.thread.start()
        self.services = self.run(open_test_services(self.settings))
        self.url = self.run(self._listen())
        return self

    async def _listen(self):
        (socket,) = bind_sockets(0, "127.0.0.1")
        self.server = HTTPServer(make_app(self.settings, self.services))
        self.server.add_sockets([socket])
        return f"http://127.0.0.1:{socket.getsockname()[1]}"

    async def _close(self):
        self.server.stop()
        await self.server.close_all_connections()
        await close_test_services(self.settings, self.services)

    def stop(self):
        self.run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(CALL_TIMEOUT)
        self.loop.close()

    def snapshot(self):
        """The store as requests could change it, but for when a token was last used (noted once a minute)."""
        snapshot = self.run(store_snapshot(self.services))
        for token in snapshot["api_tokens"]:
            del token["last_used_at"]
        return snapshot


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    # Polls that find nothing new answer within 0.1 s, so fuzzing them doesn't wait.
    shop = ThreadedShop(shop_settings(tmp_path_factory.mktemp("fuzz"), long_poll_timeout_seconds=0.1)).start()
    staff = shop.run(shop.services.accounts.register(STAFF_EMAIL, PASSWORD, staff=True))
    token, _ = shop.run(shop.services.api_tokens.create(staff, "fuzzer"))
    shop.auth = {"Authorization": f"Bearer {token}"}
    yield shop
    shop.stop()


# The document /api/openapi.json serves, read at collection so each operation is a test of its own.
schema = schemathesis.openapi.from_dict(json.loads(DOCUMENT_JSON))


@pytest.mark.parametrize("caller", ["staff program", "anonymous program"])
@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None)
def test_the_api_answers_as_its_document_says(shop, caller, case):
    headers = shop.auth if caller == "staff program" else {}
    before = shop.snapshot()
    response = case.call_and_validate(base_url=shop.url, headers=headers, excluded_checks=[positive_data_acceptance])
    if response.status_code >= 400:
        assert shop.snapshot() == before, f"{case.method} {case.formatted_path} answered {response.status_code}"
