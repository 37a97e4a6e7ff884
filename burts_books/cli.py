"""`burts-books serve | migrate | create-user | import | export | check | backup | restore`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import getpass
import io
import logging
import os
import signal
import sys
import time
from pathlib import Path

import tornado.log

from . import catalog_csv, templating
from .accounts import Accounts, check_password
from .app import MAX_BODY_SIZE, make_app
from .importer import Importer, ImportFile, Progress, RejectsFile
from .infra import access_log, event_loop, migrations, processes, server
from .infra.bus import redacted, redis_client
from .infra.config import ConfigError, Settings, check_address_for_mail, load_settings, with_cookie_secret
from .infra.db import StoreBusy, StoreDamaged, open_database
from .infra.embedded import backup as store_backup
from .infra.errors import BadImportFile, ValidationError
from .infra.limits import Limits
from .infra.loop_lag import LoopLagProbe
from .services import open_current_database, open_services

log = logging.getLogger("burts_books")
OWNER = "owner"  # create-user --owner: the role value argparse gives


class CommandError(Exception):
    """Stops the command with this message and exit status 2."""


async def serve(settings: Settings, _args) -> None:
    check_address_for_mail(settings)
    settings = with_cookie_secret(settings, log)
    # Start-up builds what lives as long as the process (the embedded store's documents above all):
    # no collection walks it meanwhile (half a second at 20,000 books), and then none ever (freeze).
    gc.disable()
    try:
        services = await open_services(settings)  # first: a store that can't open stops the start in one line
        services.db.build_indexes()
        app = make_app(settings, services)
        started = time.monotonic()
        compiled = templating.compile_all(app.settings["jinja"])
        log.info("%d templates compiled in %.0f ms", compiled, (time.monotonic() - started) * 1000)
        gc.freeze()
    finally:
        gc.enable()
    open_files = server.raise_open_file_limit()
    bus = "Redis" if settings.redis_url else "in-process (set REDIS_URL for several processes)"
    if settings.embedded:
        log.warning(
            "EMBEDDED MODE: in-process store kept in %s, one process only; event bus: %s. "
            "Set MONGODB_URL and REDIS_URL for production.",
            settings.store_dir, bus,
        )
    else:
        log.info("MongoDB database %r; event bus: %s", settings.mongodb_database, bus)
    http = server.ShopServer(
        app, xheaders=settings.xheaders, max_body_size=MAX_BODY_SIZE,
        idle_timeout=settings.idle_connection_timeout_seconds, body_timeout=settings.body_timeout_seconds,
        max_connections=server.connection_limit(settings.max_connections, open_files),
    )
    # Logged before listening, so whoever sees the port answer finds the figure in the log.
    log.info("at most %d client connections at once", http.max_connections)
    access_log.write_once_a_turn(settings.access_log_json)
    try:
        http.listen(settings.port, settings.address, backlog=server.LISTEN_BACKLOG)
    except OSError as exc:  # the port in use, above all: the shop already running, or another server
        await services.close()
        raise CommandError(f"can't listen on {settings.address}:{settings.port}: {exc.strerror or exc}") from None
    services.start_housekeeping(settings)
    probe = LoopLagProbe()
    probe.start()
    log.info("Burt's Books (process %d) is serving on http://%s:%d/ (%s event loop)", os.getpid(), settings.address,
             settings.port, event_loop.running())

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await shut_down(app, http, services, settings.shutdown_timeout_seconds)
    probe.stop()
    await services.close()


async def shut_down(app, http: server.ShopServer, services, timeout: float) -> None:
    """Drain within `timeout` seconds: not ready any more, no new connections, long polls answered and
    WebSockets closed with 1001 (their clients go on with another process), requests under way finished."""
    log.info("shutting down: finishing what is under way, for at most %g s", timeout)
    started = time.monotonic()
    app.draining = True
    services.live.end_all()
    services.order_feed.end_all()
    await http.drain(timeout)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(services.live.all_gone(), max(0.0, timeout - (time.monotonic() - started)))
    log.info("shut down in %.2f s", time.monotonic() - started)


async def migrate(settings: Settings, _args) -> None:
    db = await open_database(settings)
    try:
        ran = await migrations.migrate(db)
    finally:
        await db.close()
    print(f"applied {', '.join(ran)}" if ran else "the database is up to date")


def read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password again: "):
            raise CommandError("the two passwords differ")
        return password
    return sys.stdin.readline().rstrip("\n")


async def create_user(settings: Settings, args) -> None:
    db = await open_current_database(settings)
    limits = Limits(settings)
    try:
        accounts = Accounts(db, limits)
        if await accounts.by_email(args.email):
            if args.staff is None:
                raise CommandError(f"{args.email} already has an account; say --staff, --owner or --no-staff")
            await accounts.set_staff(args.email, bool(args.staff), owner=args.staff == OWNER)
            role = "an owner" if args.staff == OWNER else "staff"
            print(f"{args.email} is {'now ' + role if args.staff else 'no longer staff'}")
            return
        password = read_password()
        try:
            check_password(password)
            user = await accounts.register(args.email, password, staff=bool(args.staff), owner=args.staff == OWNER)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.errors.values())) from None
        role = "owner" if user.get("owner") else "staff" if user["staff"] else "shopper"
        print(f"created {role} account {user['email']}")
    finally:
        await limits.close()
        await db.close()


class ProgressDisplay:
    """A progress bar on a terminal; elsewhere a plain line after the first batch, then every 5 s.

    The summary, not a progress line, reports the last batch.
    """

    INTERVAL = 5.0

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self._bar = None
        self._next_line = 0.0

    def __call__(self, progress: Progress) -> None:
        if self.stream.isatty():
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(total=progress.total, file=self.stream, unit=" records")
            self._bar.update(progress.done - self._bar.n)
            self._bar.set_postfix_str(progress.counts(), refresh=False)
        elif time.monotonic() >= self._next_line and progress.done < progress.total:
            self._next_line = time.monotonic() + self.INTERVAL
            print(f"{progress.done} of {progress.total} records: {progress.counts()}",
                  file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def with_bus_secret(settings: Settings) -> Settings:
    """Settings with the cookie secret that signs bus messages, where there is a Redis bus to sign them for."""
    return with_cookie_secret(settings, log) if settings.redis_url else settings


def writable_file(path: Path) -> Path:
    """`path`, if a file can be written there; else CommandError, saying why."""
    if path.is_dir():
        raise CommandError(f"{path} is a folder: give a file name")
    if not path.parent.is_dir():
        raise CommandError(f"can't write {path}: there is no folder {path.parent}")
    if not os.access(path.parent, os.W_OK):
        raise CommandError(f"can't write {path}: the folder {path.parent} is not writable")
    return path


async def import_books(settings: Settings, args) -> int:
    path = Path(args.file)
    try:
        source = ImportFile.open(path)  # reads the whole file: a bad one is refused before any write
    except BadImportFile as exc:
        raise CommandError(str(exc)) from None
    # Checked before any write: the file is opened at the first rejection, maybe thousands of books in.
    rejects_path = writable_file(Path(args.rejects) if args.rejects else path.with_name(path.name + ".rejects.csv"))
    services = await open_services(with_bus_secret(settings))
    rejects = RejectsFile(rejects_path, source.numbered_by)
    display = ProgressDisplay()
    importer = Importer(services.catalog, f"import of {path.name}", rejects, on_batch=display)
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C stops at once
        importer.stop()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        progress = await importer.run(source)
    finally:
        display.close()
        rejects.close()
        await services.close()  # saves the embedded store; one Ctrl-C meanwhile doesn't abort it
        loop.remove_signal_handler(signal.SIGINT)
    outcome = "interrupted after" if progress.interrupted else "imported"
    print(f"{outcome} {progress.done} of {progress.total} records from {path.name}: {progress.counts()}")
    if rejects.written:
        print(f"rejected records and why: {rejects.path}")
    return 130 if progress.interrupted else 0


async def export_books(settings: Settings, args) -> None:
    if args.output is not None:
        writable_file(Path(args.output))
    services = await open_services(with_bus_secret(settings))
    try:
        if args.output is None:
            out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
            try:
                written = await catalog_csv.write(services.catalog.by_isbn(), out)
            finally:
                out.detach()  # flushes, and leaves stdout open
        else:
            # Written aside, then renamed: a failed export leaves no half file behind.
            partial = Path(args.output + ".partial")
            try:
                # A command of its own, with no requests waiting on its loop: plain file writes are fine.
                with open(partial, "w", encoding="utf-8", newline="") as out:  # noqa: ASYNC230
                    written = await catalog_csv.write(services.catalog.by_isbn(), out)
                os.replace(partial, args.output)
            finally:
                partial.unlink(missing_ok=True)  # noqa: ASYNC240
    finally:
        await services.close()
    print(f"exported {written} books" + (f" to {args.output}" if args.output else ""), file=sys.stderr)


async def check(settings: Settings, _args) -> None:
    settings = with_cookie_secret(settings, log)
    db = await open_database(settings)
    try:
        missing = await migrations.pending(db)
    finally:
        await db.close()
    if missing:
        raise CommandError(f"migrations pending: {', '.join(missing)}; run `burts-books migrate`")
    if settings.redis_url:
        client = redis_client(settings.redis_url, settings.redis_timeout_seconds)
        try:
            await client.ping()
        except Exception as exc:
            raise CommandError(f"Redis at {redacted(settings.redis_url)} does not answer: {exc}") from None
        finally:
            await client.aclose()
    print("configuration, database and Redis are ready" if settings.redis_url
          else "configuration and database are ready")


def embedded_only(settings: Settings, command: str) -> None:
    if not settings.embedded:
        raise CommandError(f"{command} is for the embedded store; for MongoDB use mongodump and mongorestore "
                           "(deploy/README.md says how)")


async def backup(settings: Settings, args) -> None:
    """Copy the embedded store, consistent even while a server writes to it, its covers and the cookie secret."""
    embedded_only(settings, "backup")
    await asyncio.to_thread(back_up_files, settings, Path(args.folder))


def back_up_files(settings: Settings, target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CommandError(f"{target} is not an empty folder: back up into a new one")
    documents = store_backup.backup(settings.store_dir, target)
    covers = store_backup.back_up_covers(settings.covers_dir, target)  # after the store: see back_up_covers
    if settings.cookie_secret_file.exists():
        store_backup.copy_secret(settings.cookie_secret_file, target / "cookie-secret")
    print(f"backed up {documents} documents and {covers} cover files from {settings.data_dir} to {target}")


async def restore(settings: Settings, args) -> None:
    """Make a backup the embedded store, with its covers and cookie secret (over a store only with --replace)."""
    embedded_only(settings, "restore")
    await asyncio.to_thread(restore_files, settings, Path(args.folder), args.replace)


def restore_files(settings: Settings, source: Path, replace: bool) -> None:
    if not (source / "snapshot").is_file():
        raise CommandError(f"{source} holds no backup (no snapshot file): give a folder `burts-books backup` made")
    secret = source / "cookie-secret"
    kept = settings.cookie_secret_file
    if secret.exists() and kept.exists() and kept.read_bytes() != secret.read_bytes() and not replace:
        raise CommandError(f"{kept} differs from the backup's cookie secret; restore with --replace to overwrite it")
    documents = store_backup.restore(source, settings.store_dir, replace=replace)
    covers = store_backup.restore_covers(source, settings.covers_dir)
    if secret.exists():
        store_backup.copy_secret(secret, kept)
    print(f"restored {documents} documents and {covers} cover files from {source} into {settings.data_dir}")


COMMANDS = {"serve": serve, "migrate": migrate, "create-user": create_user,
            "import": import_books, "export": export_books, "check": check, "backup": backup, "restore": restore}


def parse_args(argv: list[str]):
    parser = argparse.ArgumentParser(
        prog="burts-books",
        description="Burt's Books. Settings flags (--port, --mongodb-url, ...) follow the command; "
        "`burts-books serve --help` lists them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the shop", add_help=False)
    commands.add_parser("migrate", help="apply pending database migrations", add_help=False)
    commands.add_parser("check", help="check configuration, database and Redis", add_help=False)
    user = commands.add_parser("create-user", help="create an account, or change its staff role")
    user.add_argument("email")
    role = user.add_mutually_exclusive_group()
    role.add_argument("--staff", dest="staff", action="store_true", default=None)
    role.add_argument("--no-staff", dest="staff", action="store_false")
    role.add_argument("--owner", dest="staff", action="store_const", const=OWNER,
                      help="staff who also grant and revoke the staff role from the site")
    books_in = commands.add_parser("import", help="add and update books from a CSV file or an ONIX 3.0 feed")
    books_in.add_argument("file", help=f"a .csv file (header {','.join(catalog_csv.COLUMNS)}) or .xml/.onix feed")
    books_in.add_argument("--rejects", metavar="PATH",
                          help="where rejected records go (default: FILE.rejects.csv; none if nothing rejected)")
    books_out = commands.add_parser("export", help="write every book as CSV, in ISBN order")
    books_out.add_argument("--format", choices=["csv"], default="csv")
    books_out.add_argument("--output", metavar="FILE", help="default: standard output")
    saving = commands.add_parser("backup", help="copy the embedded store (safe while the shop serves)")
    saving.add_argument("folder", help="a new or empty folder")
    restoring = commands.add_parser("restore", help="make a backup the embedded store (stop the shop first)")
    restoring.add_argument("folder", help="a folder `backup` made")
    restoring.add_argument("--replace", action="store_true", help="overwrite the store and cookie secret there")
    return parser.parse_known_args(argv)


def serving_processes(settings: Settings) -> Settings:
    """With --processes N, fork N processes on ports PORT..PORT+N-1 and return this one's settings.

    The parent never returns: it restarts children that end, until SIGTERM, which it passes on.
    """
    if settings.processes == 1:
        return settings
    if settings.embedded or not settings.redis_url:
        raise CommandError("--processes needs MONGODB_URL and REDIS_URL: one process at a time owns the "
                           "embedded store, and only Redis carries changes between processes")
    if settings.port + settings.processes - 1 > 65535:
        raise CommandError(f"--processes {settings.processes} from port {settings.port} runs past port 65535")
    index = processes.fork(settings.processes)
    return dataclasses.replace(settings, port=settings.port + index, processes=1)


def main(argv: list[str] | None = None) -> None:
    args, settings_flags = parse_args(sys.argv[1:] if argv is None else argv)
    tornado.log.enable_pretty_logging()
    # A file-size limit must fail the write (which the store then undoes), not kill the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        settings = load_settings(settings_flags)
        if args.command == "serve":
            settings = serving_processes(settings)
        with asyncio.Runner(loop_factory=event_loop.loop_factory(settings.event_loop)) as runner:
            status = runner.run(COMMANDS[args.command](settings, args))
    except (ConfigError, CommandError, StoreBusy, StoreDamaged, store_backup.BackupFailed,
            migrations.MigrationsPending, migrations.MigrationsBusy) as exc:
        print(f"burts-books {args.command}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    if status:
        raise SystemExit(status)
