"""Settings for every entry point, from command-line flags, environment and defaults.

Precedence: a flag given on the command line, then its environment variable,
then the default. Bad values stop the start with a one-line explanation.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path

from tornado.options import Error as OptionsError
from tornado.options import OptionParser

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A setting is missing or invalid; the message is shown to the operator."""


@dataclasses.dataclass(frozen=True)
class Settings:
    port: int = 8000
    address: str = "127.0.0.1"
    debug: bool = False
    mongodb_url: str | None = None
    mongodb_database: str = "burts_books"
    redis_url: str | None = None
    cookie_secret: str | None = None
    previous_cookie_secrets: tuple[str, ...] = ()
    data_dir: Path = ROOT / "var"
    xheaders: bool = False
    cart_ttl_seconds: int = 20 * 60
    long_poll_timeout_seconds: float = 25.0
    reconcile_interval_seconds: float = 60.0
    store_compact_bytes: int = 16 * 1024 * 1024
    page_size: int = 12

    @property
    def embedded(self) -> bool:
        return not self.mongodb_url

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "embedded-store"

    @property
    def cookie_secret_file(self) -> Path:
        return self.data_dir / "cookie-secret"


# option name -> (type, environment variable, help)
_OPTIONS = {
    "port": (int, "BURTS_PORT", "port to listen on"),
    "address": (str, "BURTS_ADDRESS", "address to bind to"),
    "debug": (bool, "BURTS_DEBUG", "autoreload, tracebacks and template reloading"),
    "mongodb_url": (str, "MONGODB_URL", "MongoDB URL; unset = embedded store under var/"),
    "mongodb_database": (str, "BURTS_MONGODB_DATABASE", "MongoDB database name"),
    "redis_url": (str, "REDIS_URL", "Redis URL for the cross-process event bus"),
    "cookie_secret": (str, "BURTS_COOKIE_SECRET", "secret that signs cookies"),
    "previous_cookie_secrets": (
        str,
        "BURTS_PREVIOUS_COOKIE_SECRETS",
        "comma-separated retired secrets still accepted while they rotate out",
    ),
    "data_dir": (str, "BURTS_DATA_DIR", "folder for the embedded store and its secret"),
    "xheaders": (bool, "BURTS_XHEADERS", "trust X-Forwarded-* from a proxy (nginx)"),
    "cart_ttl_seconds": (int, "BURTS_CART_TTL", "seconds before an idle cart expires"),
    "long_poll_timeout_seconds": (
        float,
        "BURTS_LONG_POLL_TIMEOUT",
        "seconds a long poll waits before answering unchanged",
    ),
    "reconcile_interval_seconds": (
        float,
        "BURTS_RECONCILE_INTERVAL",
        "seconds between cart expiry / stock reconciliation runs",
    ),
    "store_compact_bytes": (
        int,
        "BURTS_STORE_COMPACT_BYTES",
        "embedded store: journal size that starts a compaction (at least the snapshot's size)",
    ),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _convert(kind: type, raw: str, source: str):
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{source}: expected true or false, got {raw!r}")
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{source}: expected {kind.__name__}, got {raw!r}") from None


def load_settings(argv: list[str] | None = None, environ=None) -> Settings:
    """Build Settings from `argv` (flags only, no program name) and `environ`."""
    environ = os.environ if environ is None else environ
    parser = OptionParser()
    for name, (_kind, env_name, help_text) in _OPTIONS.items():
        # Values arrive as text and are converted below, so errors name the flag.
        parser.define(name, type=str, help=f"{help_text} (env {env_name})")
    flags = []
    for arg in argv or []:
        flag = arg.lstrip("-").partition("=")[0].replace("-", "_")
        if arg.startswith("--") and flag not in _OPTIONS and flag != "help":
            raise ConfigError(f"unknown flag {arg.partition('=')[0]}; `burts-books serve --help` lists them")
        # A bare boolean flag means true; a value given to one is checked like the environment's.
        if flag in _OPTIONS and _OPTIONS[flag][0] is bool and "=" not in arg:
            arg += "=true"
        flags.append(arg)
    try:
        parser.parse_command_line(["burts-books", *flags], final=False)
    except (OptionsError, ValueError) as exc:
        raise ConfigError(str(exc)) from None

    given = parser.as_dict()
    values = {}
    for name, (kind, env_name, _) in _OPTIONS.items():
        if given[name] is not None:
            flag = "--" + name.replace("_", "-")
            values[name] = _convert(kind, given[name], flag)
        elif environ.get(env_name) not in (None, ""):
            values[name] = _convert(kind, environ[env_name], env_name)
    return _validated(values)


def _validated(values: dict) -> Settings:
    if "data_dir" in values:
        values["data_dir"] = Path(values["data_dir"]).resolve()
    if "previous_cookie_secrets" in values:
        values["previous_cookie_secrets"] = tuple(
            s.strip() for s in values["previous_cookie_secrets"].split(",") if s.strip()
        )
    settings = Settings(**values)
    if not 0 < settings.port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {settings.port}")
    for url_name, schemes in (
        ("mongodb_url", ("mongodb://", "mongodb+srv://")),
        ("redis_url", ("redis://", "rediss://", "unix://")),
    ):
        url = getattr(settings, url_name)
        if url and not url.startswith(schemes):
            raise ConfigError(
                f"--{url_name.replace('_', '-')} must start with {' or '.join(schemes)}, got {url!r}"
            )
    if settings.cookie_secret is not None and len(settings.cookie_secret) < 32:
        raise ConfigError("--cookie-secret must be at least 32 characters long")
    for name in ("cart_ttl_seconds", "long_poll_timeout_seconds", "reconcile_interval_seconds",
                 "store_compact_bytes"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive")
    return settings


def with_cookie_secret(settings: Settings, log) -> Settings:
    """Return settings that carry a cookie secret, or refuse to start without one.

    Only the embedded default may make one up: it keeps it under var/ so
    sessions survive a restart. A production server must be given its secret.
    """
    if settings.cookie_secret:
        return settings
    if settings.embedded:
        path = settings.cookie_secret_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created owner-only, so the secret is never readable by others, even briefly.
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            log.warning("embedded mode: created a cookie secret in %s", path)
        return dataclasses.replace(settings, cookie_secret=path.read_text().strip())
    if settings.debug:
        log.warning("debug mode: using a throwaway cookie secret; sessions end on restart")
        return dataclasses.replace(settings, cookie_secret=secrets.token_urlsafe(48))
    raise ConfigError(
        "no cookie secret: set BURTS_COOKIE_SECRET or --cookie-secret (32+ characters)"
    )
