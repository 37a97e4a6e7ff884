"""The Tornado application: services it runs on, and the one route table."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging

import tornado.web

from . import migrations, resources, templating
from .accounts import Accounts
from .bus import EventBus, make_bus
from .carts import CLOSED_CART_RETENTION, Carts
from .catalog import Catalog
from .config import Settings
from .db import Database, open_database
from .inventory import Inventory
from .live import LiveFeed
from .orders import Orders
from .web import api, auth, cart, live, modules, orders, pages, staff, stock

log = logging.getLogger(__name__)

ISBN = r"([0-9Xx-]{10,17})"
# Forms and JSON bodies are a few KB; nginx's client_max_body_size is 1m too,
# and Tornado's default (100 MB, buffered in memory) is too much without nginx.
MAX_BODY_SIZE = 1024 * 1024


@dataclasses.dataclass
class Services:
    """Everything a handler may call, built once per process."""

    db: Database
    bus: EventBus
    inventory: Inventory
    catalog: Catalog
    accounts: Accounts
    carts: Carts
    orders: Orders
    live: LiveFeed
    _housekeeping: asyncio.Task | None = dataclasses.field(default=None, init=False)

    async def housekeeping(self, cart_ttl_seconds: float) -> None:
        """Expire idle carts, repair any `available` count a crash left wrong, drop old closed carts.

        Safe to run in several processes at once (see carts.py).
        """
        await self.carts.expire_idle(datetime.timedelta(seconds=cart_ttl_seconds))
        await self.inventory.reconcile(self.carts.held_copies)
        await self.carts.forget_closed(CLOSED_CART_RETENTION)

    def start_housekeeping(self, settings: Settings) -> None:
        async def every_interval():
            while True:
                await asyncio.sleep(settings.reconcile_interval_seconds)
                try:
                    await self.housekeeping(settings.cart_ttl_seconds)
                except Exception:
                    log.exception("cart expiry / stock reconciliation failed; will retry")

        self._housekeeping = asyncio.ensure_future(every_interval())

    async def close(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            await asyncio.wait([self._housekeeping])
        await self.bus.stop()
        await self.db.close()


async def open_current_database(settings: Settings, *, persist: bool = True) -> Database:
    """The database, refused if behind the code; an embedded store migrates itself."""
    db = await open_database(settings, persist=persist)
    try:
        if db.embedded:
            await migrations.migrate(db)
        else:
            await migrations.ensure_current(db)
    except BaseException:
        await db.close()
        raise
    return db


async def open_services(settings: Settings, *, persist: bool = True) -> Services:
    """Connect to the database and event bus."""
    db = await open_current_database(settings, persist=persist)
    bus = make_bus(settings.redis_url)
    await bus.start()
    inventory = Inventory(db, bus)
    carts = Carts(db, inventory)
    return Services(
        db, bus, inventory, Catalog(db, inventory), Accounts(db),
        carts, Orders(db, carts, inventory), LiveFeed(bus, inventory),
    )


def routes() -> list:
    url = tornado.web.url
    return [
        url(r"/", pages.HomeHandler, name="home"),
        url(r"/recommended/", pages.RecommendedHandler, name="recommended"),
        url(r"/recommended", tornado.web.RedirectHandler, {"url": "/recommended/"}),
        url(r"/books/", pages.CatalogHandler, name="catalog"),
        url(r"/books", tornado.web.RedirectHandler, {"url": "/books/"}),
        url(rf"/books/{ISBN}", pages.BookHandler, name="book"),
        url(r"/add", staff.AddBookHandler, name="add_book"),
        url(rf"/edit/{ISBN}", staff.EditBookHandler, name="edit_book"),
        url(rf"/edit/{ISBN}/restock", stock.RestockHandler, name="restock"),
        url(r"/cart", cart.CartHandler, name="cart"),
        url(r"/cart/status", live.CartStatusHandler, name="cart_status"),
        url(r"/cart/status/ws", live.InventorySocket, name="cart_status_ws"),
        url(r"/purchase", orders.PurchaseHandler, name="purchase"),
        url(r"/orders", orders.OrdersHandler, name="orders"),
        url(r"/orders/([0-9a-f]{24})", orders.OrderHandler, name="order"),
        url(r"/login", auth.LoginHandler, name="login"),
        url(r"/logout", auth.LogoutHandler, name="logout"),
        url(r"/register", auth.RegisterHandler, name="register"),
        url(r"/api/books", api.BooksApiHandler, name="api_books"),
        url(rf"/api/books/{ISBN}", api.BookApiHandler, name="api_book"),
        url(rf"/api/books/{ISBN}/restock", stock.RestockApiHandler, name="api_restock"),
    ]


class ShopApplication(tornado.web.Application):
    def __init__(self, settings: Settings, services: Services):
        self.shop_settings = settings
        self.services = services
        self.jinja = templating.make_environment(resources.TEMPLATES, debug=settings.debug)
        super().__init__(
            routes(),
            default_handler_class=pages.NotFoundHandler,
            cookie_secret=settings.cookie_secret,
            xsrf_cookies=True,
            xsrf_cookie_kwargs={"httponly": False, "samesite": "Lax"},
            login_url="/login",
            static_path=str(resources.STATIC),
            ui_modules=modules,
            debug=settings.debug,
            xheaders=settings.xheaders,
            websocket_ping_interval=20,
            websocket_ping_timeout=15,
            websocket_max_message_size=64 * 1024,  # a subscribe message is a few KB at most
        )


def make_app(settings: Settings, services: Services) -> ShopApplication:
    return ShopApplication(settings, services)
