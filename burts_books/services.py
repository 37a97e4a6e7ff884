"""The services a shop process runs on, built once per process: database, bus and domain services."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging

from .accounts import Accounts
from .api_tokens import ApiTokens
from .carts import CLOSED_CART_RETENTION, Carts
from .catalog import Catalog
from .catalog_view import CatalogView
from .covers import Covers
from .history import History
from .import_jobs import ImportJobs
from .infra import migrations
from .infra.bus import EventBus, make_bus
from .infra.config import Settings
from .infra.db import Database, open_database
from .infra.limits import Limits
from .infra.mail import Mailer, make_mailer
from .inventory import Inventory
from .live import LiveFeed
from .order_feed import OrderFeed
from .orders import Orders
from .password_resets import PasswordResets
from .restock_alerts import RestockAlerts
from .social_accounts import SocialAccounts
from .stock_report import StockReport
from .visitors import Visitors

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Services:
    """Everything a handler may call, built once per process."""

    db: Database
    bus: EventBus
    catalog_view: CatalogView
    history: History
    inventory: Inventory
    catalog: Catalog
    accounts: Accounts
    api_tokens: ApiTokens
    carts: Carts
    orders: Orders
    order_feed: OrderFeed
    live: LiveFeed
    imports: ImportJobs
    limits: Limits
    mailer: Mailer
    social: SocialAccounts
    password_resets: PasswordResets
    restock_alerts: RestockAlerts
    covers: Covers
    stock_report: StockReport
    visitors: Visitors
    _housekeeping: asyncio.Task | None = dataclasses.field(default=None, init=False)

    async def housekeeping(self, cart_ttl_seconds: float, anonymous_cart_ttl_seconds: float | None = None) -> None:
        """Expire idle carts, repair any `available` count a crash left wrong, finish history entries a crash
        left pending, drop old closed carts, close the books of imports whose process died.

        Carts of visitors not signed in expire after `anonymous_cart_ttl_seconds` (by default
        the same as the others). Safe to run in several processes at once (see carts.py).
        """
        anonymous = cart_ttl_seconds if anonymous_cart_ttl_seconds is None else anonymous_cart_ttl_seconds
        await self.carts.expire_idle(
            datetime.timedelta(seconds=cart_ttl_seconds), datetime.timedelta(seconds=anonymous)
        )
        await self.inventory.reconcile(self.carts.held_copies)
        await self.history.drain_all()
        await self.carts.forget_closed(CLOSED_CART_RETENTION)
        await self.imports.abandon_stale()
        await self.social.forget_expired()
        await self.password_resets.forget_expired()
        await self.restock_alerts.catch_up()

    def start_housekeeping(self, settings: Settings) -> None:
        async def every_interval():
            while True:
                await asyncio.sleep(settings.reconcile_interval_seconds)
                try:
                    await self.housekeeping(settings.cart_ttl_seconds, settings.anonymous_cart_ttl_seconds)
                except Exception:
                    log.exception("cart expiry / stock reconciliation failed; will retry")

        self._housekeeping = asyncio.ensure_future(every_interval())

    async def close(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            await asyncio.wait([self._housekeeping])
        await self.imports.close()
        await self.restock_alerts.close()
        await self.mailer.close()
        await self.bus.stop()
        await self.limits.close()
        await self.catalog_view.close()
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
    secrets = [secret for secret in (settings.cookie_secret, *settings.previous_cookie_secrets) if secret]
    bus = make_bus(settings.redis_url, secrets, settings.redis_timeout_seconds)
    view = CatalogView(db, bus)
    # Listening before reading: a change made meanwhile by another process is not missed.
    await bus.start()
    await view.load()
    history = History(db)
    inventory = Inventory(db, bus, view, history)
    limits = Limits(settings)
    carts = Carts(db, inventory, limits, datetime.timedelta(seconds=settings.cart_ttl_seconds),
                  datetime.timedelta(seconds=settings.anonymous_cart_ttl_seconds))
    catalog = Catalog(db, inventory, view)
    accounts = Accounts(db, limits)
    mailer = make_mailer(settings)
    restock_alerts = RestockAlerts(db, bus, inventory, limits, mailer)
    await restock_alerts.start()
    orders = Orders(db, bus, carts, inventory, mailer, history)
    social = SocialAccounts(db, limits)
    return Services(
        db, bus, view, history, inventory, catalog, accounts, ApiTokens(db, accounts), carts,
        orders, OrderFeed(bus, orders), LiveFeed(bus, inventory),
        ImportJobs(db, catalog, settings.data_dir / "imports"), limits, mailer, social,
        PasswordResets(db, accounts, limits, mailer, social), restock_alerts,
        Covers(settings.covers_dir, settings.max_cover_bytes), StockReport(db, history),
        Visitors(db, accounts, carts),
    )
