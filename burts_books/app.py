"""The Tornado application and its one route table."""

from __future__ import annotations

import logging

import cachetools
import tornado.web

from . import templating
from .infra import access_log, resources
from .infra.config import Settings
from .infra.metrics import ShopMetrics
from .live import Outbox, Poll
from .orders import NUMBER_PATTERN as ORDER_NUMBER
from .services import Services
from .web import (
    account,
    api,
    auth,
    cart,
    health,
    live,
    modules,
    openapi,
    orders,
    orders_api,
    pages,
    password,
    restock_alerts,
    social,
    staff_import,
    stock,
)
from .web.signed_cookies import CookieHeaders
from .web.staff import books as staff_books
from .web.staff import history as staff_history
from .web.staff import orders as staff_orders
from .web.staff import stock as staff_stock
from .web.staff import users as staff_users
from .web.static_files import CoverFiles, StaticFiles

log = logging.getLogger(__name__)

ISBN = r"([0-9Xx-]{10,17})"
# Forms and JSON bodies are a few KB; nginx's client_max_body_size is 1m too,
# and Tornado's default (100 MB, buffered in memory) is too much without nginx.
MAX_BODY_SIZE = 1024 * 1024
FRAGMENTS = 20_000  # rendered UI-module fragments kept per process (a few KB each)


def routes() -> list:
    url = tornado.web.url
    # Tornado tries each rule in turn (a regex each): the busiest come first, pages, live stock and the books' API.
    return [
        url(r"/", pages.HomeHandler, name="home"),
        url(r"/recommended/", pages.RecommendedHandler, name="recommended"),
        url(r"/recommended", tornado.web.RedirectHandler, {"url": "/recommended/"}),
        url(r"/books/", pages.CatalogHandler, name="catalog"),
        url(r"/books", tornado.web.RedirectHandler, {"url": "/books/"}),
        url(rf"/books/{ISBN}", pages.BookHandler, name="book"),
        url(rf"/books/{ISBN}/notify", restock_alerts.NotifyHandler, name="notify"),
        url(r"/cart/status", live.CartStatusHandler, name="cart_status"),
        url(r"/cart/status/ws", live.InventorySocket, name="cart_status_ws"),
        url(r"/api/books", api.BooksApiHandler, name="api_books"),
        url(rf"/api/books/{ISBN}", api.BookApiHandler, name="api_book"),
        url(rf"/api/books/{ISBN}/restock", stock.RestockApiHandler, name="api_restock"),
        url(r"/api/stock", stock.StockApiHandler, name="api_stock"),
        url(r"/api/orders", orders_api.OrdersApiHandler, name="api_orders"),
        url(rf"/api/orders/({ORDER_NUMBER})", orders_api.OrderApiHandler, name="api_order"),
        url(r"/api/openapi\.json", openapi.OpenApiHandler, name="openapi"),
        url(r"/add", staff_books.AddBookHandler, name="add_book"),
        url(rf"/edit/{ISBN}", staff_books.EditBookHandler, name="edit_book"),
        url(rf"/edit/{ISBN}/restock", staff_books.RestockHandler, name="restock"),
        url(r"/covers/(.*)", CoverFiles, name="cover"),
        url(r"/cart", cart.CartHandler, name="cart"),
        url(r"/checkout", orders.CheckoutHandler, name="checkout"),
        url(r"/orders", orders.OrdersHandler, name="orders"),
        url(rf"/orders/({ORDER_NUMBER})", orders.OrderHandler, name="order"),
        url(r"/login", auth.LoginHandler, name="login"),
        url(r"/logout", auth.LogoutHandler, name="logout"),
        url(r"/register", auth.RegisterHandler, name="register"),
        *(url(rf"/auth/{handler.provider_name}", handler, name=f"auth_{handler.provider_name}")
          for handler in social.HANDLERS),
        url(r"/password/forgot", password.ForgotPasswordHandler, name="password_forgot"),
        url(r"/password/reset/([\w-]{43})", password.ResetPasswordHandler, name="password_reset"),
        url(r"/account", account.AccountHandler, name="account"),
        url(r"/account/password", account.PasswordChangeHandler, name="account_password"),
        url(r"/account/unlink/(\w+)", account.UnlinkHandler, name="account_unlink"),
        url(r"/account/tokens", account.TokensHandler, name="account_tokens"),
        url(r"/account/tokens/([0-9a-f]{24})/revoke", account.RevokeTokenHandler, name="revoke_token"),
        url(r"/staff/orders", staff_orders.OrdersHandler, name="staff_orders"),
        url(r"/staff/orders/watch", staff_orders.OrdersWatchHandler, name="staff_orders_watch"),
        url(rf"/staff/orders/({ORDER_NUMBER})", staff_orders.OrderHandler, name="staff_order"),
        url(rf"/staff/orders/({ORDER_NUMBER})/(ready|collected|cancel)", staff_orders.OrderActionHandler,
            name="staff_order_action"),
        url(r"/staff/?", tornado.web.RedirectHandler, {"url": "/staff/stock"}),
        url(r"/staff/stock", staff_stock.StockHandler, name="staff_stock"),
        url(r"/staff/history", staff_history.HistoryHandler, name="staff_history"),
        url(r"/staff/users", staff_users.UsersHandler, name="staff_users"),
        url(r"/staff/users/([0-9a-f]{24})/role", staff_users.RoleHandler, name="staff_role"),
        url(rf"/staff/books/{ISBN}/withdraw", staff_books.WithdrawHandler, name="staff_withdraw"),
        url(r"/staff/imports", staff_import.ImportsHandler, name="staff_imports"),
        url(r"/staff/imports/([\w-]{16})", staff_import.ImportHandler, name="staff_import"),
        url(r"/staff/imports/([\w-]{16})/rejects\.csv", staff_import.RejectsHandler, name="staff_import_rejects"),
        url(r"/healthz", health.HealthHandler, name="healthz"),
        url(r"/readyz", health.ReadyHandler, name="readyz"),
        url(r"/metrics", health.MetricsHandler, name="metrics"),
    ]


def route_names(rules: list) -> dict[type, str]:
    """The route name of each handler class, for the metrics; a class serves one named route at most."""
    names: dict[type, str] = {StaticFiles: "static", pages.NotFoundHandler: "not_found"}
    for rule in rules:
        if rule.name:
            assert rule.target not in names, f"{rule.target.__name__} serves two routes"
            names[rule.target] = rule.name
    return names


def supported_methods(rules: list) -> set[str]:
    """The HTTP methods some handler answers, for the metrics (the default handler and StaticFiles keep Tornado's)."""
    return {method for handler in (tornado.web.RequestHandler, *(rule.target for rule in rules))
            for method in handler.SUPPORTED_METHODS}


def watch(metrics: ShopMetrics, services: Services) -> None:
    """What the metrics read from the services when scraped."""
    metrics.gauge("burts_books_websockets_open", "live-inventory WebSockets open",
                  lambda: services.live.count(Outbox))
    metrics.gauge("burts_books_long_polls_held", "long polls held open, waiting for a change",
                  lambda: services.live.count(Poll))
    metrics.gauge("burts_books_staff_order_polls_held", "staff order lists' long polls held open, waiting for an order",
                  lambda: len(services.order_feed))
    metrics.counter("burts_books_bus_events_published", "inventory events this process published",
                    lambda: services.bus.published)
    metrics.counter("burts_books_bus_events_received", "inventory events that reached this process",
                    lambda: services.bus.received)
    metrics.counter("burts_books_cart_holds_taken", "copies this process put in carts",
                    lambda: services.carts.holds_taken)
    metrics.counter("burts_books_cart_holds_given_back", "copies this process took out of carts or saw expire",
                    lambda: services.carts.holds_given_back)
    store = services.db.store
    if store is not None:
        metrics.gauge("burts_books_store_journal_bytes",
                      "embedded store: journal written since the last compaction began", lambda: store.journal_bytes)


def shared_pages(size: int) -> cachetools.LRUCache:
    """Rendered shared pages (skeletons: lists of bytes, 4-15 KB a page), kept by the memory they take."""
    return cachetools.LRUCache(maxsize=size, getsizeof=lambda skeleton: sum(map(len, skeleton)))


def filled_pages(size: int) -> cachetools.LRUCache:
    """Shared pages as filled in for a visitor state (web.shared_pages.FilledPage), apart from the skeletons: a
    visitor's own pages never push out the ones every visitor shares."""
    return cachetools.LRUCache(maxsize=size, getsizeof=lambda filled: sum(map(len, filled.pieces)))


class ShopApplication(tornado.web.Application):
    """Handlers reach the shop's settings, services and Jinja2 environment through
    `self.settings` (typed properties on BaseHandler), as Tornado intends."""

    draining = False  # set when the process shuts down: /readyz answers 503

    def __init__(self, settings: Settings, services: Services):
        rules = routes()
        self.route_names = route_names(rules)
        self.metrics = ShopMetrics(supported_methods(rules))
        watch(self.metrics, services)
        super().__init__(
            rules,
            shop_settings=settings,
            services=services,
            jinja=templating.make_environment(resources.TEMPLATES, debug=settings.debug, timezone=settings.timezone),
            fragments=cachetools.LRUCache(maxsize=FRAGMENTS),
            pages=shared_pages(settings.page_cache_bytes),
            filled_pages=filled_pages(settings.page_cache_bytes),
            default_handler_class=pages.NotFoundHandler,
            cookie_secret=settings.cookie_secret,
            cookie_headers=CookieHeaders(),
            # Pages shrink to a fifth or less. XSRF tokens are masked afresh for every
            # response, so compression can't be used to guess one (BREACH).
            compress_response=True,
            xsrf_cookies=True,
            xsrf_cookie_kwargs={"httponly": False, "samesite": "Lax"},
            login_url="/login",
            static_path=str(resources.STATIC),
            static_handler_class=StaticFiles,
            ui_modules=modules,
            debug=settings.debug,
            xheaders=settings.xheaders,
            # One timer pings every feed socket, where Tornado's websocket_ping_interval runs a task each.
            socket_pings=live.SocketPings(settings.websocket_ping_seconds),
            websocket_max_message_size=64 * 1024,  # a subscribe message is a few KB at most
            metrics=self.metrics,
            log_function=self.log_answered,
        )

    def log_answered(self, handler: tornado.web.RequestHandler) -> None:
        """Tornado's log_function: every answered request, once, to the access log and the metrics."""
        request = handler.request
        status = handler.get_status()
        seconds = request.request_time()
        route = self.route_names.get(type(handler), "other")
        self.metrics.observe(route, request.method or "", status, seconds)
        settings: Settings = self.settings["shop_settings"]
        rid = access_log.request_id(request, settings.xheaders)
        access_log.write(request, status, seconds * 1000, rid, as_json=settings.access_log_json,
                         routine=getattr(handler, "routine", False))


def make_app(settings: Settings, services: Services) -> ShopApplication:
    return ShopApplication(settings, services)
