"""Settings: flags beat environment variables beat defaults; bad values stop the start with one line."""

import logging
import os
import stat
from pathlib import Path

import pytest

from burts_books.infra.config import ConfigError, load_settings, with_cookie_secret
from tests.constants import COOKIE_SECRET as SECRET

log = logging.getLogger("test")


def test_defaults_are_the_embedded_shop_on_port_8000():
    settings = load_settings([], {})
    assert (settings.port, settings.address, settings.debug) == (8000, "127.0.0.1", False)
    assert settings.embedded
    assert settings.store_dir.resolve() == Path.cwd() / "var" / "embedded-store"


@pytest.mark.parametrize(
    "argv, environ, expected",
    [
        ([], {"BURTS_PORT": "8100"}, 8100),
        (["--port=8200"], {"BURTS_PORT": "8100"}, 8200),
        (["--port=8200"], {}, 8200),
        ([], {"BURTS_PORT": ""}, 8000),  # a blank variable counts as unset
    ],
)
def test_flag_beats_environment_beats_default(argv, environ, expected):
    assert load_settings(argv, environ).port == expected


@pytest.mark.parametrize(
    "argv, environ, expected",
    [
        (["--debug"], {}, True),
        (["--debug=false"], {"BURTS_DEBUG": "true"}, False),
        ([], {"BURTS_DEBUG": "yes"}, True),
        ([], {"BURTS_DEBUG": "off"}, False),
    ],
)
def test_boolean_settings(argv, environ, expected):
    assert load_settings(argv, environ).debug is expected


def test_environment_configures_a_production_server(tmp_path):
    settings = load_settings(
        [],
        {
            "MONGODB_URL": "mongodb://db.internal:27017/?replicaSet=rs0",
            "REDIS_URL": "redis://cache.internal:6379/0",
            "BURTS_PREVIOUS_COOKIE_SECRETS": f" old-one-{SECRET}, ,old-two-{SECRET} ",
            "BURTS_DATA_DIR": str(tmp_path / "data"),
        },
    )
    assert not settings.embedded
    assert settings.redis_url == "redis://cache.internal:6379/0"
    assert settings.previous_cookie_secrets == (f"old-one-{SECRET}", f"old-two-{SECRET}")
    assert settings.data_dir == tmp_path / "data"


@pytest.mark.parametrize(
    "argv, environ, message",
    [
        (["--port=abc"], {}, "--port: expected a whole number from 1 to 65535, got 'abc'"),
        ([], {"BURTS_PORT": "eighty"}, "BURTS_PORT: expected a whole number from 1 to 65535, got 'eighty'"),
        (["--port=70000"], {}, "--port: expected a whole number from 1 to 65535, got '70000'"),
        (["--port"], {}, "'port' requires a value"),
        (["--debug=maybe"], {}, "--debug: expected true or false, got 'maybe'"),
        ([], {"BURTS_XHEADERS": "maybe"}, "BURTS_XHEADERS: expected true or false"),
        (["--colour=blue"], {}, "unknown flag --colour"),
        ([], {"MONGODB_URL": "http://db.internal"}, "MONGODB_URL: must start with mongodb://"),
        (["--redis-url=localhost:6379"], {}, "--redis-url: must start with redis://"),
        (["--cookie-secret=short"], {}, "--cookie-secret: must be at least 32 characters"),
        ([], {"BURTS_CART_TTL": "0"}, "BURTS_CART_TTL: expected a whole number from 1 to 604800, got '0'"),
        ([], {"BURTS_PREVIOUS_COOKIE_SECRETS": "short"}, "BURTS_PREVIOUS_COOKIE_SECRETS: must be at least 32"),
        ([], {"BURTS_RECONCILE_INTERVAL": "nan"}, "BURTS_RECONCILE_INTERVAL: must be positive"),
        (["--event-loop=trio"], {}, "--event-loop: expected uvloop or asyncio, got 'trio'"),
        (["--long-poll-timeout-seconds=soon"], {},
         "--long-poll-timeout-seconds: expected a number of seconds, got 'soon'"),
        (["--page-cache-bytes=1099511627777"], {},
         "--page-cache-bytes: expected a whole number from 1048576 to 1099511627776, got '1099511627777'"),
        (["--page-cache-bytes=" + "9" * 5000], {},  # more digits than int() reads: refused all the same
         "--page-cache-bytes: expected a whole number from 1048576 to 1099511627776, got '999"),
        # Tornado stops reading at the first word that is not a flag: it would serve on 8000, in debug mode.
        (["--debug", "false", "--port=8123"], {},
         "unexpected 'false': give each setting as --name=value, like --debug=false"),
        (["--port", "8123", "--address", "0.0.0.0"], {}, "unexpected '8123', '0.0.0.0': give each setting as"),
    ],
)
def test_invalid_values_stop_with_a_one_line_message(argv, environ, message):
    with pytest.raises(ConfigError) as raised:
        load_settings(argv, environ)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("flag", ["--page-cache-bytes", "--store-compact-bytes"])
@pytest.mark.parametrize(
    "given, size",
    [("1073741824", 2**30), ("1099511627776", 2**40), ("0" * 5000 + "1073741824", 2**30)],  # zeros never reach int()
)
def test_byte_sizes_are_taken_up_to_their_maximum(flag, given, size):
    assert getattr(load_settings([f"{flag}={given}"], {}), flag[2:].replace("-", "_")) == size


def test_embedded_mode_keeps_its_cookie_secret_under_the_data_dir(tmp_path):
    settings = load_settings([f"--data-dir={tmp_path}"], {})
    first = with_cookie_secret(settings, log)
    secret_file = tmp_path / "cookie-secret"
    assert first.cookie_secret == secret_file.read_text().strip()
    assert len(first.cookie_secret) >= 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    # A restart signs with the same secret, so sessions survive it.
    assert with_cookie_secret(settings, log).cookie_secret == first.cookie_secret


def test_a_new_cookie_secret_is_on_disk_with_its_name_before_it_is_used(tmp_path, monkeypatch):
    synced = []
    fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_ino), fsync(fd)))
    settings = with_cookie_secret(load_settings([f"--data-dir={tmp_path}"], {}), log)
    secret_file = tmp_path / "cookie-secret"
    assert secret_file.read_text() == settings.cookie_secret
    assert secret_file.stat().st_ino in synced  # its content
    assert tmp_path.stat().st_ino in synced  # its name in the folder


@pytest.mark.parametrize("kept", ["", "\n", "too-short-to-sign-with"])
def test_a_cookie_secret_file_too_short_to_sign_with_stops_the_start_saying_what_to_do(tmp_path, kept):
    # An empty file is what a power loss soon after the first start could leave before secrets were synced.
    secret_file = tmp_path / "cookie-secret"
    secret_file.write_text(kept)
    with pytest.raises(ConfigError) as raised:
        with_cookie_secret(load_settings([f"--data-dir={tmp_path}"], {}), log)
    assert str(raised.value) == (
        f"the cookie secret in {secret_file} is {len(kept.strip())} characters long, not 32 or more (a crash as "
        "it was first written can leave it empty): restore it from a backup, or delete the file and start "
        "again to make a new one (everyone is signed out)"
    )
    assert secret_file.read_text() == kept


def test_a_given_cookie_secret_is_used_and_nothing_is_written(tmp_path):
    settings = load_settings([f"--data-dir={tmp_path}", f"--cookie-secret={SECRET}"], {})
    assert with_cookie_secret(settings, log).cookie_secret == SECRET
    assert not (tmp_path / "cookie-secret").exists()


def test_production_without_a_cookie_secret_refuses_to_start(tmp_path):
    settings = load_settings([f"--data-dir={tmp_path}", "--mongodb-url=mongodb://db.internal"], {})
    with pytest.raises(ConfigError, match="no cookie secret: set BURTS_COOKIE_SECRET"):
        with_cookie_secret(settings, log)
    assert not (tmp_path / "cookie-secret").exists()


def test_debug_mode_without_a_cookie_secret_uses_a_throwaway_one(tmp_path):
    settings = load_settings([f"--data-dir={tmp_path}", "--mongodb-url=mongodb://db.internal", "--debug"], {})
    first, second = with_cookie_secret(settings, log), with_cookie_secret(settings, log)
    assert len(first.cookie_secret) >= 32 and first.cookie_secret != second.cookie_secret
    assert not (tmp_path / "cookie-secret").exists()
