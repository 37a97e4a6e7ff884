"""`burts-books` on the command line, run as an operator would: a real process, its output and exit status."""

import asyncio
import datetime
import functools
import gc
import logging
import os
import stat

import pytest
from mongomock_motor import AsyncMongoMockClient

from burts_books import cli
from burts_books import services as services_module
from burts_books.accounts import Accounts
from burts_books.infra import migrations
from burts_books.infra.clock import utcnow
from burts_books.infra.config import Settings
from burts_books.infra.db import Database, open_database
from burts_books.infra.limits import Limits
from tests.cli_helpers import refusal, store
from tests.constants import COOKIE_SECRET, PASSWORD, SHOPPER_EMAIL
from tests.shop_process import run_cli

TYPED_PASSWORD = PASSWORD + "\n"


def accounts_in(db):
    """The accounts of a store a command wrote, read as the command reads them."""
    return Accounts(db, Limits(Settings()))


async def account(data_dir, email):
    async with store(data_dir) as db:
        return await accounts_in(db).by_email(email)


@pytest.mark.gen_test(timeout=30)  # each runs the command in processes of its own
async def test_create_a_shopper_then_make_them_staff(tmp_path):
    created = run_cli("create-user", "Reader@Example.com", data_dir=tmp_path, stdin=TYPED_PASSWORD)
    assert (created.returncode, created.stdout) == (0, "created shopper account reader@example.com\n")
    async with store(tmp_path) as db:
        assert await accounts_in(db).authenticate(SHOPPER_EMAIL, PASSWORD)
    assert (await account(tmp_path, SHOPPER_EMAIL))["staff"] is False

    promoted = run_cli("create-user", SHOPPER_EMAIL, "--staff", data_dir=tmp_path)
    assert (promoted.returncode, promoted.stdout) == (0, "reader@example.com is now staff\n")
    assert (await account(tmp_path, SHOPPER_EMAIL))["staff"] is True


@pytest.mark.parametrize(
    "email, password, message",
    [
        (SHOPPER_EMAIL, "short\n", "Use at least 8 characters."),
        ("not-an-email", TYPED_PASSWORD, "Give a valid email address."),
    ],
)
@pytest.mark.gen_test(timeout=30)  # each runs the command in processes of its own
async def test_create_user_refuses_bad_input_and_creates_nothing(tmp_path, email, password, message):
    result = run_cli("create-user", email, data_dir=tmp_path, stdin=password)
    assert refusal(result) == f"burts-books create-user: {message}"
    async with store(tmp_path) as db:
        assert await db.users.count_documents({}) == 0


@pytest.mark.gen_test(timeout=30)  # each runs the command in processes of its own
async def test_create_user_for_an_existing_account_asks_which_role(tmp_path):
    async with store(tmp_path) as db:
        await accounts_in(db).register(SHOPPER_EMAIL, PASSWORD)
    result = run_cli("create-user", SHOPPER_EMAIL, data_dir=tmp_path, stdin=TYPED_PASSWORD)
    assert refusal(result) == (
        "burts-books create-user: reader@example.com already has an account; say --staff, --owner or --no-staff"
    )


@pytest.mark.gen_test(timeout=30)  # each runs the command in processes of its own
async def test_create_user_is_refused_while_another_process_holds_the_store(tmp_path):
    store_dir = Settings(data_dir=tmp_path).store_dir
    async with store(tmp_path):
        pass  # a shop that has run once and saved its store
    async with store(tmp_path):  # this test process plays the running server
        saved = {path.name: path.read_bytes() for path in store_dir.iterdir()}
        result = run_cli("create-user", SHOPPER_EMAIL, data_dir=tmp_path, stdin=TYPED_PASSWORD)
        assert refusal(result) == (
            f"burts-books create-user: the embedded store {store_dir} is in use by "
            f"process {os.getpid()}; stop that process first (or point MONGODB_URL at a MongoDB server)"
        )
        assert {path.name: path.read_bytes() for path in store_dir.iterdir()} == saved
    assert await account(tmp_path, SHOPPER_EMAIL) is None


def test_migrate_applies_what_is_pending_then_reports_up_to_date(tmp_path):
    first = run_cli("migrate", data_dir=tmp_path)
    assert (first.returncode, first.stdout) == (0, f"applied {', '.join(p.stem for p in migrations.available())}\n")
    second = run_cli("migrate", data_dir=tmp_path)
    assert (second.returncode, second.stdout) == (0, "the database is up to date\n")


@pytest.mark.gen_test(timeout=30)  # each runs the command in processes of its own
async def test_migrate_after_one_killed_part_way_goes_ahead_at_once_on_the_embedded_store(tmp_path):
    db = await open_database(Settings(data_dir=tmp_path))
    # What a migrate or embedded start killed while migrating leaves behind: its lock, good for two minutes.
    expires = utcnow() + datetime.timedelta(seconds=migrations.LOCK_SECONDS)
    await db.migrations.insert_one({"_id": migrations.LOCK_ID, "owner": "killed", "expires": expires})
    await db.close()
    result = run_cli("migrate", data_dir=tmp_path)  # waited 60 s, then a traceback
    assert (result.returncode, result.stdout) == (0, f"applied {', '.join(p.stem for p in migrations.available())}\n")
    async with store(tmp_path) as db:
        assert await db.migrations.find_one({"_id": migrations.LOCK_ID}) is None


def test_migrate_while_another_process_migrates_a_server_gives_up_in_one_line(monkeypatch, capsys, process_logging):
    client = AsyncMongoMockClient()

    async def migrating_elsewhere(settings, *, persist=True):
        db = Database(client, settings.mongodb_database)
        expires = utcnow() + datetime.timedelta(seconds=migrations.LOCK_SECONDS)
        await db.migrations.insert_one({"_id": migrations.LOCK_ID, "owner": "busy", "expires": expires})
        return db

    monkeypatch.setattr(cli, "open_database", migrating_elsewhere)
    monkeypatch.setattr(migrations, "migrate", functools.partial(migrations.migrate, wait=0.2))  # not 60 s
    with pytest.raises(SystemExit) as stopped:
        cli.main(["migrate", "--mongodb-url=mongodb://db.internal"])

    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "burts-books migrate: another process has been migrating the database for over 0.2 s: let it finish, "
        "then run this again (the lock of one that died lapses 120 s after it was taken)\n"
    )
    assert asyncio.run(client.burts_books.migrations.count_documents({})) == 1  # the other's lock, nothing applied


@pytest.mark.parametrize(
    "args, message",
    [
        (["--mongodb-url=mongodb://127.0.0.1:9"],
         "no cookie secret: set BURTS_COOKIE_SECRET or --cookie-secret (32+ characters)"),
        (["--port=http"], "--port: expected a whole number from 1 to 65535, got 'http'"),
        (["--debug", "false", "--port=8123"],
         "unexpected 'false': give each setting as --name=value, like --debug=false; "
         "`burts-books serve --help` lists them"),
        # A mailed link must not take its host from a request's Host header, which the sender chooses.
        (["--smtp-url=smtp://mail.internal:587"],
         "--smtp-url (BURTS_SMTP_URL) needs --public-url (BURTS_PUBLIC_URL) too: the shop's address as visitors "
         "reach it, like https://books.example, which mailed links point at"),
    ],
)
def test_serve_refuses_to_start_with_a_clear_message(tmp_path, args, message):
    result = run_cli("serve", *args, data_dir=tmp_path)
    assert result.stderr == f"burts-books serve: {message}\n"
    assert result.returncode == 2
    assert not Settings(data_dir=tmp_path).store_dir.exists()


def test_commands_that_mail_nothing_run_with_mail_set_up_and_no_public_url(tmp_path):
    # As the deployment guide runs them: the environment file holds BURTS_SMTP_URL, --public-url is serve's.
    result = run_cli("migrate", "--smtp-url=smtp://mail.internal:587", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr


def test_serve_refuses_a_cookie_secret_file_left_empty_and_leaves_it_as_it_is(tmp_path):
    secret_file = Settings(data_dir=tmp_path).cookie_secret_file
    secret_file.touch(mode=0o600)  # what a power loss soon after the first start could leave
    result = run_cli("serve", data_dir=tmp_path)
    assert refusal(result) == (
        f"burts-books serve: the cookie secret in {secret_file} is 0 characters long, not 32 or more (a crash as it "
        "was first written can leave it empty): restore it from a backup, or delete the file and start again to "
        "make a new one (everyone is signed out)"
    )
    assert secret_file.read_text() == ""
    assert not Settings(data_dir=tmp_path).store_dir.exists()


@pytest.fixture
def process_logging():
    """`cli.main` sets up a process's logging: Tornado's handler on the root logger, writing to this
    test's captured stderr, and its level. Put back as they were for the tests after this one."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_serve_refuses_a_database_whose_migrations_are_behind(monkeypatch, capsys, process_logging):
    client = AsyncMongoMockClient()

    async def behind_by_one(settings, *, persist=True):
        # A MongoDB server (not the embedded store, which migrates itself) missing the last migration.
        db = Database(client, settings.mongodb_database)
        for path in migrations.available()[:-1]:
            await db.migrations.insert_one({"_id": path.stem, "applied_at": datetime.datetime(2026, 1, 1)})
        return db

    monkeypatch.setattr(services_module, "open_database", behind_by_one)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["serve", "--mongodb-url=mongodb://db.internal", f"--cookie-secret={COOKIE_SECRET}"])

    assert stopped.value.code == 2
    assert gc.isenabled()  # off for start-up only, so it must come back on when start-up fails
    last = migrations.available()[-1].stem
    assert capsys.readouterr().err == (
        f"burts-books serve: the database is missing migrations {last}: run `burts-books migrate`\n"
    )
    assert asyncio.run(client.burts_books.migrations.count_documents({})) == len(migrations.available()) - 1


def test_a_command_given_a_data_folder_that_does_not_exist_yet_makes_it_owner_only(tmp_path):
    data_dir = tmp_path / "new" / "data"
    result = run_cli("migrate", f"--data-dir={data_dir}")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
