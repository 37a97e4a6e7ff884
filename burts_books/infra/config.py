"""Settings for every entry point, from command-line flags, environment and defaults.

Each setting is declared once, as a field of `Settings`: its default, its
environment variable, its help, and the function that turns text into its
value (and says what is wrong with bad text). The flag is the field name
with dashes: `cart_ttl_seconds` is `--cart-ttl-seconds`.

Precedence: a flag given on the command line, then its environment variable,
then the default. Bad values stop the start with a one-line explanation.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import sys
import zoneinfo
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tornado.options import Error as OptionsError
from tornado.options import OptionParser

from .embedded.files import sync_folder
from .numbers import whole_number


class ConfigError(Exception):
    """A setting is missing or invalid; the message is shown to the operator."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered not in _TRUE | _FALSE:
        raise ValueError(f"expected true or false, got {raw!r}")
    return lowered in _TRUE


def _text(raw: str) -> str:
    return raw


def _whole(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            return whole_number(raw, minimum, maximum)
        except ValueError:
            raise ValueError(f"expected a whole number from {minimum} to {maximum}, got {raw!r}") from None

    return parse


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {raw!r}") from None
    if not 0 < value < 1e6:
        raise ValueError(f"must be positive and under a million seconds, got {raw!r}")
    return value


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not raw.startswith(schemes):
            raise ValueError(f"must start with {' or '.join(schemes)}, got {raw!r}")
        return raw

    return parse


def _secret(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("must be at least 32 characters long")
    return raw


def _secrets(raw: str) -> tuple[str, ...]:
    return tuple(_secret(part.strip()) for part in raw.split(",") if part.strip())


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        chosen = raw.strip().lower()
        if chosen not in choices:
            raise ValueError(f"expected {' or '.join(choices)}, got {raw!r}")
        return chosen

    return parse


def _folder(raw: str) -> Path:
    return Path(raw).resolve()


def _time_zone(raw: str) -> str:
    try:
        return zoneinfo.ZoneInfo(raw.strip()).key
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{raw!r} is not a time zone name like Europe/London or America/Chicago") from None


def _public_url(raw: str) -> str:
    return _url("http://", "https://")(raw).rstrip("/")


def setting(default: Any, env: str, help: str, parse: Callable[[str], Any] = _text) -> Any:
    """A configurable field of Settings."""
    return dataclasses.field(default=default, metadata={"env": env, "help": help, "parse": parse})


# Social sign-in providers: their display name and real endpoints (authorize, token, user info).
# Each endpoint can be pointed elsewhere (tests, GitHub Enterprise) by a setting.
SOCIAL_PROVIDERS = {
    "google": ("Google", "https://accounts.google.com/o/oauth2/v2/auth", "https://oauth2.googleapis.com/token",
               "https://openidconnect.googleapis.com/v1/userinfo"),
    "facebook": ("Facebook", "https://www.facebook.com/v19.0/dialog/oauth",
                 "https://graph.facebook.com/v19.0/oauth/access_token", "https://graph.facebook.com/v19.0/me"),
    "x": ("X", "https://x.com/i/oauth2/authorize", "https://api.x.com/2/oauth2/token", "https://api.x.com/2/users/me"),
    "github": ("GitHub", "https://github.com/login/oauth/authorize", "https://github.com/login/oauth/access_token",
               "https://api.github.com/user"),
}


def _with_social_settings(cls: type) -> type:
    """Add each provider's five settings (`google_client_id`, ..., `github_userinfo_url`) to the class,
    before it becomes a dataclass: each a flag and a variable like every other setting."""
    for provider, (title, authorize, token, userinfo) in SOCIAL_PROVIDERS.items():
        endpoint = _url("https://", "http://")
        for part, (default, help, parse) in {
            "client_id": (None, f"{title} OAuth client id; unset = no {title} sign-in", _text),
            "client_secret": (None, f"{title} OAuth client secret", _text),
            "authorize_url": (authorize, f"{title} authorization endpoint", endpoint),
            "token_url": (token, f"{title} token endpoint", endpoint),
            "userinfo_url": (userinfo, f"{title} user-info endpoint", endpoint),
        }.items():
            name = f"{provider}_{part}"
            cls.__annotations__[name] = "str | None"
            setattr(cls, name, setting(default, f"BURTS_{name.upper()}", help, parse))
    return cls


@dataclasses.dataclass(frozen=True)
@_with_social_settings
class Settings:
    port: int = setting(8000, "BURTS_PORT", "port to listen on", _whole(1, 65535))
    address: str = setting("127.0.0.1", "BURTS_ADDRESS", "address to bind to")
    debug: bool = setting(False, "BURTS_DEBUG", "autoreload, tracebacks and template reloading", _boolean)
    mongodb_url: str | None = setting(
        None, "MONGODB_URL", "MongoDB URL; unset = embedded store under the data folder",
        _url("mongodb://", "mongodb+srv://"),
    )
    mongodb_database: str = setting("burts_books", "BURTS_MONGODB_DATABASE", "MongoDB database name")
    redis_url: str | None = setting(
        None, "REDIS_URL", "Redis URL for the cross-process event bus", _url("redis://", "rediss://", "unix://")
    )
    smtp_url: str | None = setting(
        None, "BURTS_SMTP_URL",
        "SMTP server for mail, like smtp://user:pass@host:587 (STARTTLS) or smtps://host:465; unset = to the log",
        _url("smtp://", "smtps://"),
    )
    mail_from: str = setting("Burt's Books <shop@burts-books.example>", "BURTS_MAIL_FROM", "sender of the shop's mail")
    cookie_secret: str | None = setting(None, "BURTS_COOKIE_SECRET", "secret that signs cookies", _secret)
    previous_cookie_secrets: tuple[str, ...] = setting(
        (), "BURTS_PREVIOUS_COOKIE_SECRETS",
        "comma-separated retired secrets still accepted while they rotate out", _secrets,
    )
    data_dir: Path = setting(
        Path("var"), "BURTS_DATA_DIR", "folder for the embedded store and its secret", _folder
    )
    xheaders: bool = setting(False, "BURTS_XHEADERS", "trust X-Forwarded-* from a proxy (nginx)", _boolean)
    cart_ttl_seconds: int = setting(
        20 * 60, "BURTS_CART_TTL", "seconds before a signed-in shopper's idle cart expires", _whole(1, 7 * 24 * 3600)
    )
    anonymous_cart_ttl_seconds: int = setting(
        10 * 60, "BURTS_ANONYMOUS_CART_TTL", "seconds before an idle cart of a visitor not signed in expires",
        _whole(1, 7 * 24 * 3600),
    )
    max_copies_per_cart: int = setting(
        30, "BURTS_MAX_COPIES_PER_CART", "copies one cart may hold, all titles together", _whole(1, 10_000)
    )
    cart_adds_per_minute: int = setting(
        30, "BURTS_CART_ADDS_PER_MINUTE", "cart adds per minute by one visitor (cart or account)", _whole(1, 100_000)
    )
    cart_adds_per_address_per_minute: int = setting(
        60, "BURTS_CART_ADDS_PER_ADDRESS", "cart adds per minute from one client address", _whole(1, 100_000)
    )
    anonymous_adds_per_address: int = setting(
        20, "BURTS_ANONYMOUS_ADDS_PER_ADDRESS",
        "cart adds without signing in from one client address per anonymous cart TTL", _whole(1, 100_000),
    )
    sign_in_attempts_per_account: int = setting(
        10, "BURTS_SIGN_IN_ATTEMPTS_PER_ACCOUNT", "failed sign-ins per email per 15 minutes", _whole(1, 100_000)
    )
    sign_in_attempts_per_address: int = setting(
        20, "BURTS_SIGN_IN_ATTEMPTS_PER_ADDRESS", "failed sign-ins from one client address per 15 minutes",
        _whole(1, 100_000),
    )
    registrations_per_address: int = setting(
        10, "BURTS_REGISTRATIONS_PER_ADDRESS", "accounts registered from one client address per hour",
        _whole(1, 100_000),
    )
    restock_alerts_per_address: int = setting(
        20, "BURTS_RESTOCK_ALERTS_PER_ADDRESS", '"notify me" requests from one client address per hour',
        _whole(1, 100_000),
    )
    timezone: str = setting(
        "UTC", "BURTS_TIMEZONE", "the shop's time zone for the dates shoppers read, like Europe/London",
        _time_zone,
    )
    password_hashes_at_once: int = setting(
        2, "BURTS_PASSWORD_HASHES_AT_ONCE", "argon2 hashes a process computes at once (64 MiB each)", _whole(1, 64)
    )
    password_hash_queue: int = setting(
        8, "BURTS_PASSWORD_HASH_QUEUE", "sign-ins and registrations that may wait for a hash; more get 429",
        _whole(0, 10_000),
    )
    sign_ins_at_once_per_address: int = setting(
        2, "BURTS_SIGN_INS_AT_ONCE_PER_ADDRESS",
        "sign-ins and registrations from one client address under way at once; more get 429", _whole(1, 10_000),
    )
    long_poll_timeout_seconds: float = setting(
        25.0, "BURTS_LONG_POLL_TIMEOUT", "seconds a long poll waits before answering unchanged", _seconds
    )
    websocket_ping_seconds: float = setting(
        20.0, "BURTS_WEBSOCKET_PING", "seconds between pings to each WebSocket; one that has not "
        "answered the last ping by the next is closed", _seconds
    )
    reconcile_interval_seconds: float = setting(
        60.0, "BURTS_RECONCILE_INTERVAL", "seconds between cart expiry / stock reconciliation runs", _seconds
    )
    redis_timeout_seconds: float = setting(
        2.0, "BURTS_REDIS_TIMEOUT", "seconds any one Redis call (connect, publish, subscribe, ping) may take", _seconds
    )
    max_connections: int | None = setting(
        None, "BURTS_MAX_CONNECTIONS",
        "most client connections open at once; unset = the open-file limit less 100", _whole(1, 10_000_000),
    )
    max_live_per_address: int = setting(
        100, "BURTS_MAX_LIVE_PER_ADDRESS",
        "most long polls and WebSockets one client address may hold open at once", _whole(1, 1_000_000),
    )
    idle_connection_timeout_seconds: float = setting(
        75.0, "BURTS_IDLE_CONNECTION_TIMEOUT",
        "seconds before closing a connection that sends no request (idle keep-alive, or headers sent slowly)",
        _seconds,
    )
    body_timeout_seconds: float = setting(
        60.0, "BURTS_BODY_TIMEOUT", "seconds a client may take to send a request body", _seconds
    )
    store_compact_bytes: int = setting(
        16 * 1024 * 1024, "BURTS_STORE_COMPACT_BYTES",
        "embedded store: journal size that starts a compaction (at least the snapshot's size)",
        _whole(1, 2**40),
    )
    shutdown_timeout_seconds: float = setting(
        10.0, "BURTS_SHUTDOWN_TIMEOUT",
        "seconds a process takes at most, after SIGTERM, to finish its requests and close its live feeds",
        _seconds,
    )
    page_cache_bytes: int = setting(
        64 * 1024 * 1024, "BURTS_PAGE_CACHE_BYTES",
        "memory each process keeps rendered shared pages in, and as much again for them as filled in for"
        " their visitors (least recently used out first)",
        _whole(1024 * 1024, 2**40),
    )
    event_loop: str = setting(
        "asyncio" if sys.platform == "win32" else "uvloop", "BURTS_EVENT_LOOP",
        "the event loop: uvloop (libuv's, faster; not on Windows) or asyncio (Python's own)",
        _choice("uvloop", "asyncio"),
    )
    access_log_json: bool = setting(
        False, "BURTS_ACCESS_LOG_JSON", "write the access log as JSON lines instead of text", _boolean
    )
    processes: int = setting(
        1, "BURTS_PROCESSES",
        "processes `serve` starts, on consecutive ports from --port (MongoDB and Redis only)", _whole(1, 256),
    )
    password_resets_per_address: int = setting(
        10, "BURTS_PASSWORD_RESETS_PER_ADDRESS", "password reset requests from one client address per hour",
        _whole(1, 100_000),
    )
    password_resets_per_email: int = setting(
        3, "BURTS_PASSWORD_RESETS_PER_EMAIL", "password reset requests for one email per hour", _whole(1, 100_000)
    )
    social_sign_ins_per_address: int = setting(
        30, "BURTS_SOCIAL_SIGN_INS_PER_ADDRESS",
        "social sign-ins and links started from one client address per 15 minutes",
        _whole(1, 100_000),
    )
    public_url: str | None = setting(
        None, "BURTS_PUBLIC_URL",
        "the shop's address as visitors reach it (https://books.example); links in mail (password resets) and "
        "social sign-in redirect URIs are built from it, never from a request's Host header; unset = links only "
        "to localhost, 127.0.0.1 or ::1, as each request names it (the embedded default tried on this machine), "
        "and a request naming any other host gets no link (421); serve requires it with --smtp-url", _public_url,
    )
    low_stock_threshold: int = setting(
        5, "BURTS_LOW_STOCK_THRESHOLD",
        "a title with fewer copies available than this is low on stock: shoppers read \"Only N left\", "
        "the staff stock page lists it as low",
        _whole(1, 100_000),
    )
    max_cover_bytes: int = setting(
        5 * 1024 * 1024, "BURTS_MAX_COVER_BYTES", "largest cover image staff may upload, in bytes",
        _whole(1024, 64 * 1024 * 1024),
    )
    page_size: int = 12  # books per catalog page; not a setting

    @property
    def embedded(self) -> bool:
        return not self.mongodb_url

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "embedded-store"

    @property
    def covers_dir(self) -> Path:
        return self.data_dir / "covers"

    @property
    def cookie_secret_file(self) -> Path:
        return self.data_dir / "cookie-secret"


SETTINGS = {field.name: field for field in dataclasses.fields(Settings) if field.metadata}


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _refuse_stray_words(argv: list[str]) -> None:
    # Tornado stops at the first word that is not a flag and silently ignores everything after it:
    # `--debug false --port=8123` would serve in debug mode on port 8000.
    stray = [arg for arg in argv if not arg.startswith("-")]
    if stray:
        raise ConfigError(f"unexpected {', '.join(map(repr, stray))}: give each setting as --name=value, like "
                          "--debug=false; `burts-books serve --help` lists them")


def load_settings(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `argv` (flags only, no program name) and `environ`."""
    environ = os.environ if environ is None else environ
    parser = OptionParser()
    for name, field in SETTINGS.items():
        # Values arrive as text and are parsed below, so errors name the flag.
        parser.define(name, type=str, help=f"{field.metadata['help']} (env {field.metadata['env']})")
    _refuse_stray_words(argv or [])
    flags = []
    for arg in argv or []:
        name = arg.lstrip("-").partition("=")[0].replace("-", "_")
        if arg.startswith("--") and name not in SETTINGS and name != "help":
            raise ConfigError(f"unknown flag {arg.partition('=')[0]}; `burts-books serve --help` lists them")
        # A bare boolean flag means true; a value given to one is checked like the environment's.
        if name in SETTINGS and SETTINGS[name].metadata["parse"] is _boolean and "=" not in arg:
            arg += "=true"
        flags.append(arg)
    try:
        parser.parse_command_line(["burts-books", *flags], final=False)
    except (OptionsError, ValueError) as exc:
        raise ConfigError(str(exc)) from None

    given = parser.as_dict()
    values = {}
    for name, field in SETTINGS.items():
        env = field.metadata["env"]
        if given[name] is not None:
            raw, source = given[name], flag_name(name)
        elif environ.get(env):
            raw, source = environ[env], env
        else:
            continue
        try:
            values[name] = field.metadata["parse"](raw)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return Settings(**values)


def check_address_for_mail(settings: Settings) -> None:
    """Before serving: mail needs --public-url. Mail reaches people off this machine, and its links
    never take their host from a request's Host header, which the sender chooses, so without it the
    shop would refuse every reset request. (Commands that mail nothing, `migrate` say, run without.)"""
    if settings.smtp_url and not settings.public_url:
        raise ConfigError("--smtp-url (BURTS_SMTP_URL) needs --public-url (BURTS_PUBLIC_URL) too: the shop's "
                          "address as visitors reach it, like https://books.example, which mailed links point at")


def with_cookie_secret(settings: Settings, log) -> Settings:
    """Return settings that carry a cookie secret, or refuse to start without one.

    Only the embedded default may make one up: it keeps it in the data folder
    so sessions survive a restart. A production server must be given its secret.
    """
    if settings.cookie_secret:
        return settings
    if settings.embedded:
        path = settings.cookie_secret_file
        if not path.exists():
            _write_secret(path)
            log.warning("embedded mode: created a cookie secret in %s", path)
        return dataclasses.replace(settings, cookie_secret=_read_secret(path))
    if settings.debug:
        log.warning("debug mode: using a throwaway cookie secret; sessions end on restart")
        return dataclasses.replace(settings, cookie_secret=secrets.token_urlsafe(48))
    raise ConfigError("no cookie secret: set BURTS_COOKIE_SECRET or --cookie-secret (32+ characters)")


def _write_secret(path: Path) -> None:
    """A new secret in `path`, on disk before the shop signs anything with it: without the syncs, a power
    loss soon after the first start can leave the file empty (delayed allocation), or not there at all."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Created owner-only, so the secret is never readable by others, even briefly.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        handle.write(secrets.token_urlsafe(48))
        handle.flush()
        os.fsync(handle.fileno())
    sync_folder(path.parent)


def _read_secret(path: Path) -> str:
    """The secret kept in `path`, checked like a given one: a short one would let the shop say it is
    ready and then fail every request that signs a cookie."""
    secret = path.read_text().strip()
    try:
        return _secret(secret)
    except ValueError:
        raise ConfigError(
            f"the cookie secret in {path} is {len(secret)} characters long, not 32 or more (a crash as it was "
            "first written can leave it empty): restore it from a backup, or delete the file and start again "
            "to make a new one (everyone is signed out)"
        ) from None
