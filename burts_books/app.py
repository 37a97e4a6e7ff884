"""The Tornado application: services it runs on, and the one route table."""

from __future__ import annotations

import dataclasses

import tornado.web

from . import migrations, templating
from .accounts import Accounts
from .bus import make_bus
from .catalog import Catalog
from .config import ROOT, Settings
from .db import Database, open_database
from .inventory import Inventory
from .web import api, auth, modules, pages, staff

TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
ISBN = r"([0-9Xx-]{10,17})"


@dataclasses.dataclass
class Services:
    """Everything a handler may call, built once per process."""

    db: Database
    bus: object
    inventory: Inventory
    catalog: Catalog
    accounts: Accounts

    async def close(self) -> None:
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
    return Services(db, bus, inventory, Catalog(db, inventory), Accounts(db))


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
        url(r"/login", auth.LoginHandler, name="login"),
        url(r"/logout", auth.LogoutHandler, name="logout"),
        url(r"/register", auth.RegisterHandler, name="register"),
        url(r"/api/books", api.BooksApiHandler, name="api_books"),
        url(rf"/api/books/{ISBN}", api.BookApiHandler, name="api_book"),
    ]


class ShopApplication(tornado.web.Application):
    def __init__(self, settings: Settings, services: Services):
        self.shop_settings = settings
        self.services = services
        self.jinja = templating.make_environment(TEMPLATES, debug=settings.debug)
        super().__init__(
            routes(),
            default_handler_class=pages.NotFoundHandler,
            cookie_secret=settings.cookie_secret,
            xsrf_cookies=True,
            xsrf_cookie_kwargs={"httponly": False, "samesite": "Lax"},
            login_url="/login",
            static_path=str(STATIC),
            ui_modules=modules,
            template_loader=self.jinja.loader,
            debug=settings.debug,
            xheaders=settings.xheaders,
            websocket_ping_interval=20,
            websocket_ping_timeout=30,
        )


def make_app(settings: Settings, services: Services) -> ShopApplication:
    return ShopApplication(settings, services)
