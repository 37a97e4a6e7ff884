"""deploy/supervisord.conf for real: Debian's supervisord runs two shop processes behind Debian's nginx.

The test rewrites only what differs on a test machine (the command, ports,
folders, user and the open-file figure); the rest is the file as deployed.
There is no MongoDB server here, so each process has an embedded store of its
own, seeded alike: what crosses between them is what Redis carries, the
inventory events. Stock is therefore changed through one process only.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import tornado.httpclient

from tests.constants import COOKIE_SECRET, PCI
from tests.nginx_server import Nginx
from tests.shop_client import ShopClient
from tests.shop_process import SHOP_COMMAND, free_port, port_answers, stop_process, wait_until_serving
from tests.waiting import until
from tests.websocket_client import connect, receive, subscribe

SUPERVISORD = shutil.which("supervisord") or "/usr/bin/supervisord"
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
STARTING_SOFT_LIMIT = 1024  # what systemd gives a service whose unit does not say LimitNOFILE
GOING_AWAY = 1001
RESTART_TIMEOUT = 20.0  # seconds for supervisord to start a process again and for it to serve


def program_config(base_port: int, processes: int, folder: Path, minfds: int) -> str:
    text = (DEPLOY / "supervisord.conf").read_text()
    replacements = [
        (r"numprocs = \d+", f"numprocs = {processes}"),
        (r"numprocs_start = \d+", f"numprocs_start = {base_port}"),
        (r"/srv/burts-books/\.venv/bin/burts-books", " ".join(SHOP_COMMAND)),
        (r"--data-dir=/srv/burts-books/var", f"--data-dir={folder}/var-%(process_num)d"),
        (r"directory = /srv/burts-books", f"directory = {folder}"),
        (r"user = burts\n", ""),
        (r"/var/log/burts-books/", f"{folder}/"),
        (r"minfds = \d+", f"minfds = {minfds}"),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement.replace("\\", "\\\\"), text)
        assert count == 1, f"deploy/supervisord.conf no longer has {pattern!r}"
    return text


def bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def consecutive_free_ports(count: int) -> int:
    """The first of `count` consecutive loopback ports that are free now."""
    while True:
        base = free_port()
        if base + count <= 65535 and all(bindable(base + n) for n in range(1, count)):
            return base


class Supervisord:
    """supervisord with the shipped program group, `processes` shops on consecutive ports."""

    def __init__(self, folder: Path, processes: int, redis_url: str = ""):
        if not Path(SUPERVISORD).exists():
            pytest.fail("supervisord is missing: `make test` installs it (apt-get install supervisor)", pytrace=False)
        self.folder = folder
        self.hard_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        deployed = int(re.search(r"minfds = (\d+)", (DEPLOY / "supervisord.conf").read_text()).group(1))
        # Raising a hard limit takes root (and CAP_SYS_RESOURCE); under a lower one, the test asks for that.
        self.minfds = min(deployed, self.hard_limit)
        base = consecutive_free_ports(processes)
        self.ports = [base + n for n in range(processes)]
        (folder / "burts-books.conf").write_text(program_config(base, processes, folder, self.minfds))
        (folder / "supervisord.conf").write_text(
            f"[supervisord]\nnodaemon = true\nlogfile = {folder}/supervisord.log\npidfile = {folder}/supervisord.pid\n"
            f"childlogdir = {folder}\n[include]\nfiles = {folder}/burts-books.conf\n"
        )
        self.environment = {
            "PATH": os.environ["PATH"], "MONGODB_URL": "", "REDIS_URL": redis_url,
            "BURTS_COOKIE_SECRET": COOKIE_SECRET, "PYTHONPATH": str(DEPLOY.parent), "PYTHONUNBUFFERED": "1",
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> Supervisord:
        hard = self.hard_limit
        self.process = subprocess.Popen(
            [SUPERVISORD, "-c", str(self.folder / "supervisord.conf")], env=self.environment, cwd=self.folder,
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (STARTING_SOFT_LIMIT, hard)),
        )
        serving = wait_until_serving(self.process, lambda: all(port_answers(port) for port in self.ports), 30)
        assert serving, self.log() + "".join(self.shop_log(port) for port in self.ports)
        return self

    def log(self) -> str:
        return (self.folder / "supervisord.log").read_text(errors="replace")

    def shop_log(self, port: int) -> str:
        path = self.folder / f"burts-books-{port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def pid(self, port: int) -> int | None:
        """The process serving on `port` now, as its log's latest start line says."""
        started = re.findall(r"\(process (\d+)\) is serving", self.shop_log(port))
        return int(started[-1]) if started else None

    def stop(self) -> None:
        stop_process(self.process, timeout=30)


def test_supervisord_accepts_the_deployed_config(tmp_path):
    supervisord = Supervisord(tmp_path, 2)
    # supervisord's own parser (Debian's python3-supervisor), as `supervisord -c` reads it before starting.
    check = subprocess.run(
        ["/usr/bin/python3", "-c", "import sys; from supervisor.options import ServerOptions; "
         "o = ServerOptions(); o.realize(['-c', sys.argv[1]]); "
         "print([p.name for g in o.process_group_configs for p in g.process_configs])",
         str(tmp_path / "supervisord.conf")],
        capture_output=True, text=True, env=supervisord.environment, timeout=30,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == str([f"burts-books-{port}" for port in supervisord.ports])


def test_supervisord_with_the_deployed_config_starts_the_shop_with_a_high_open_file_limit(tmp_path):
    supervisord = Supervisord(tmp_path, 1)
    try:
        supervisord.start()
        shop_log = supervisord.shop_log(supervisord.ports[0])
    finally:
        supervisord.stop()
    hard, minfds = supervisord.hard_limit, supervisord.minfds
    # The shop inherits minfds from supervisord (not the 1024 it started with), then raises it to the hard limit.
    expected = f"open-file limit: {hard}" if minfds == hard else f"open-file limit raised from {minfds} to {hard}"
    assert expected in shop_log, shop_log


@pytest.fixture
def cluster(tmp_path, redis_server):
    """Two shop processes under supervisord, behind nginx, sharing a real Redis."""
    supervisord = Supervisord(tmp_path, 2, redis_server.url)
    nginx = Nginx(tmp_path / "nginx", supervisord.ports)
    try:
        supervisord.start()
        nginx.start()
        yield supervisord, nginx
    finally:
        nginx.stop()
        supervisord.stop()


class Load:
    """A steady, bounded load through nginx: `workers` clients, each asking for the next page as soon as
    it has the last (and a pause). Every answer but a 200 is a failure, with what it was."""

    PATHS = ("/", f"/books/{PCI}", "/api/books", "/books/", "/healthz")

    def __init__(self, url: str, workers: int = 4, pause: float = 0.01):
        self.url = url
        self.client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=workers)
        self.answered = 0
        self.failures: list[str] = []
        self._running = True
        self._tasks = [asyncio.ensure_future(self._work(n, pause)) for n in range(workers)]

    async def _work(self, offset: int, pause: float) -> None:
        n = offset
        while self._running:
            path = self.PATHS[n % len(self.PATHS)]
            n += 1
            try:
                response = await self.client.fetch(self.url + path, raise_error=False, request_timeout=10)
                code, problem = response.code, response.error
            except Exception as exc:  # a connection nginx itself refused or reset
                code, problem = 0, exc
            if code == 200:
                self.answered += 1
            else:
                self.failures.append(f"{path}: {code} {problem}")
            await asyncio.sleep(pause)

    async def stop(self) -> None:
        self._running = False
        await asyncio.gather(*self._tasks)
        self.client.close()


async def serving_again(supervisord: Supervisord, port: int, old_pid: int, http_client) -> None:
    """Wait until supervisord has started a new process on `port` and it is ready."""
    async def ready() -> bool:
        if supervisord.pid(port) in (None, old_pid) or not port_answers(port):
            return False
        return (await ShopClient(http_client, f"http://127.0.0.1:{port}").get("/readyz")).code == 200

    await until(ready, timeout=RESTART_TIMEOUT, message=f"no new process on {port}:\n{supervisord.log()}")


def websockets_open(metrics_text: str) -> float:
    return float(re.search(r"^burts_books_websockets_open (\S+)$", metrics_text, re.M).group(1))


@pytest.mark.gen_test(timeout=60)
async def test_two_processes_under_supervisord_behind_nginx_share_the_live_feed(cluster, http_client):
    supervisord, nginx = cluster
    a, b = supervisord.ports
    shopper = ShopClient(http_client, nginx.url)
    page = await shopper.get(f"/books/{PCI}")
    assert page.code == 200 and "Add to Cart" in page.text
    stylesheet = re.search(r'href="(/static/css/base\.css\?v=\w+)"', page.text).group(1)
    assert (await shopper.get(stylesheet)).code == 200

    # Two WebSockets through nginx, one on each process (nginx takes turns; each process's metrics say).
    sockets = []
    for _ in range(2):
        socket = await connect(nginx.url, origin=nginx.url)
        subscribe(socket, [PCI])
        assert await receive(socket) == {"type": "state", "isbn": PCI, "available": 12, "version": 1}
        sockets.append(socket)
    on_a, on_b = [ShopClient(http_client, f"http://127.0.0.1:{port}") for port in (a, b)]
    assert [websockets_open((await shop.get("/metrics")).text) for shop in (on_a, on_b)] == [1, 1]

    # A change made through process A reaches both, the one on B through Redis.
    buyer = on_a
    assert (await buyer.cart_json("add")).code == 200
    for socket in sockets:
        assert await receive(socket) == {"type": "state", "isbn": PCI, "available": 11, "version": 2}

    # A long poll through nginx is held, then answered by the next change on A.
    poll = asyncio.ensure_future(shopper.poll((PCI, 2)))
    await asyncio.sleep(0.3)
    assert not poll.done()
    assert (await buyer.cart_json("add")).code == 200
    assert await poll == [{"isbn": PCI, "available": 10, "version": 3}]
    for socket in sockets:
        socket.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_killed_process_is_restarted_and_no_request_fails_meanwhile(cluster, http_client):
    supervisord, nginx = cluster
    a = supervisord.ports[0]
    load = Load(nginx.url)
    await until(lambda: load.answered >= 20)
    killed = supervisord.pid(a)
    os.kill(killed, signal.SIGKILL)
    await serving_again(supervisord, a, killed, http_client)
    answered_before = load.answered
    await until(lambda: load.answered >= answered_before + 20)
    await load.stop()
    assert load.failures == [], load.failures[:10]
    assert f"exited: burts-books-{a} (terminated by SIGKILL" in supervisord.log()


class ReconnectingWatcher:
    """A page's live feed: subscribes through nginx, and on 1001 reconnects (to whichever process
    nginx picks) and subscribes again. Any other close, or a failed reconnection, is a failure."""

    def __init__(self, url: str):
        self.url = url
        self.going_away = 0
        self.states: list[dict] = []
        self.connected = asyncio.Event()
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            socket = await connect(self.url, origin=self.url)
            subscribe(socket, [PCI])
            while (message := await socket.read_message()) is not None:
                self.states.append(json.loads(message))
                self.connected.set()
            self.connected.clear()
            assert socket.close_code == GOING_AWAY, f"closed with {socket.close_code} {socket.close_reason}"
            self.going_away += 1

    def stop(self) -> None:
        self.task.cancel()

    def __repr__(self) -> str:
        ended = self.task.done() and not self.task.cancelled() and self.task.exception()
        return f"<{self.going_away} times 1001, connected={self.connected.is_set()}, ended={ended!r}>"


@pytest.mark.gen_test(timeout=90)
async def test_a_rolling_restart_drops_no_request_and_every_page_reconnects(cluster, http_client):
    supervisord, nginx = cluster
    shopper = ShopClient(http_client, nginx.url)
    watchers = [ReconnectingWatcher(nginx.url) for _ in range(6)]
    try:
        await rolling_restart(supervisord, nginx, watchers, shopper, http_client)
    finally:
        for watcher in watchers:
            watcher.stop()


async def rolling_restart(supervisord, nginx, watchers, shopper, http_client):
    await until(lambda: all(watcher.connected.is_set() for watcher in watchers))
    load = Load(nginx.url)
    await until(lambda: load.answered >= 20)

    for port in supervisord.ports:  # SIGTERM each in turn, as `supervisorctl restart` does
        old = supervisord.pid(port)
        os.kill(old, signal.SIGTERM)
        await serving_again(supervisord, port, old, http_client)
        await until(lambda: all(watcher.connected.is_set() for watcher in watchers), timeout=RESTART_TIMEOUT,
                    message=f"not all back after restarting {port}: {[repr(w) for w in watchers]}")
    answered_before = load.answered
    await until(lambda: load.answered >= answered_before + 20)
    await load.stop()

    # Every page was on one of the two processes, so each heard "going away" and came back.
    assert all(watcher.going_away >= 1 for watcher in watchers), [w.going_away for w in watchers]
    assert all(not watcher.task.done() for watcher in watchers), [w.task for w in watchers if w.task.done()]
    # They are all live again: a change reaches every one, with the count the shop now has.
    assert (await shopper.cart_json("add")).code == 200
    expected = {"type": "state", "isbn": PCI, "available": 11, "version": 2}
    await until(lambda: all(watcher.states[-1] == expected for watcher in watchers))
    assert load.failures == [], load.failures[:10]
    for port in supervisord.ports:
        assert "shutting down: finishing what is under way" in supervisord.shop_log(port)
