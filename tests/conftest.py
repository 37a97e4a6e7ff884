"""Fixtures: a shop on a fresh store (embedded, or MONGODB_URL's server), and a browser-like client."""

import dataclasses

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.netutil
from argon2 import PasswordHasher

from burts_books import accounts
from burts_books.app import make_app
from burts_books.infra.db import open_database
from tests.constants import PASSWORD, SHOPPER_EMAIL, STAFF_EMAIL
from tests.mail_server import MailCatcher
from tests.redis_server import redis_server  # noqa: F401  (a fixture for the tests that need Redis)
from tests.shop_client import ShopClient
from tests.store import close_test_services, drop_test_database, open_test_services, shop_settings


@pytest.fixture(autouse=True, scope="session")
def quick_password_hashing():
    """argon2id at its lowest cost: the same code paths without ~150 ms per hash and per sign-in."""
    production = accounts._hasher
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    accounts._hasher = production


@pytest.fixture
def mail():
    """A real SMTP server (MailCatcher); a test that asks for it gets a shop that sends its mail there."""
    with MailCatcher() as server:
        yield server


@pytest.fixture
def settings(tmp_path, request):
    """The shop's settings; a test marked `@pytest.mark.settings(name=value, ...)` changes those."""
    marked = request.node.get_closest_marker("settings")
    smtp = {"smtp_url": request.getfixturevalue("mail").url} if "mail" in request.fixturenames else {}
    return shop_settings(tmp_path, **{"long_poll_timeout_seconds": 2.0, **smtp, **(marked.kwargs if marked else {})})


@pytest.fixture
def services(io_loop, settings):
    services = io_loop.run_sync(lambda: open_test_services(settings))
    yield services
    io_loop.run_sync(lambda: close_test_services(settings, services))


@pytest.fixture
def empty_db(io_loop, settings):
    """A database with nothing in it, not even migrations (embedded in memory, or MONGODB_URL's server)."""
    db = io_loop.run_sync(lambda: open_database(settings, persist=False))
    yield db

    async def stop():
        await drop_test_database(settings, db)
        await db.close()

    io_loop.run_sync(stop)


@pytest.fixture
def app(settings, services):
    return make_app(settings, services)


@pytest.fixture
def client(http_client, base_url):
    return ShopClient(http_client, base_url)


@pytest.fixture
def many_at_once(io_loop):
    """An HTTP client that keeps 200 requests in flight at once (http_client sends ten at a time)."""
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=200)
    yield client
    client.close()


@pytest.fixture
def proxied_url(app, io_loop):
    """The same shop served as behind nginx (--xheaders): a request's X-Real-IP and X-Forwarded-Proto
    say who sent it and how. ShopClient(..., address=...) sends X-Real-IP."""
    server = tornado.httpserver.HTTPServer(app, xheaders=True)
    [listener] = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets([listener])
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    server.stop()


@pytest.fixture
def make_user(services, io_loop):
    """make_user(email, staff=False) -> the stored user, with the password PASSWORD."""

    def make(email, staff=False):
        return io_loop.run_sync(
            lambda: services.accounts.register(email, PASSWORD, staff=staff)
        )

    return make


@pytest.fixture
def reader(make_user):
    """A shopper's account, not signed in."""
    return make_user(SHOPPER_EMAIL)


@pytest.fixture
def embedded(settings):
    """Settings for the embedded store in this test's own folder, even when MONGODB_URL is set."""
    return dataclasses.replace(settings, mongodb_url=None, mongodb_database="burts_books")


@pytest.fixture
def staff(client, make_user, io_loop):
    """A client signed in as staff."""
    make_user(STAFF_EMAIL, staff=True)
    io_loop.run_sync(lambda: client.login(STAFF_EMAIL))
    return client


@pytest.fixture
def shopper(client, make_user, io_loop):
    """A client signed in as a shopper."""
    make_user(SHOPPER_EMAIL)
    io_loop.run_sync(lambda: client.login(SHOPPER_EMAIL))
    return client
