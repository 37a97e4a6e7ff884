"""What the side-by-side benchmarks share: servers pinned to one core and load on the other,
wrk, memory of a process, and thin raw clients that can hold 10,000 connections from one process.

The raw clients do as little as they can (no WebSocket or HTTP library), so the time they
take is small and the same for the shop and for the bare-Tornado reference it is measured against.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from tests.shop_process import (
    SHOP_COMMAND,
    cpu_seconds,
    free_port,
    port_answers,
    shop_environment,
    stop_process,
    wait_until_serving,
)

SERVER_CORE, LOAD_CORE = 0, 1
T = TypeVar("T")
CONNECT_BATCH = 100  # connections opened at once: below Tornado's listen backlog (128)


def pinning() -> bool:
    """Server and load each on a core of their own, when the machine has two and taskset."""
    return (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


def on_server_core(command: tuple[str, ...]) -> tuple[str, ...]:
    return ("taskset", "-c", str(SERVER_CORE), *command) if pinning() else command


def on_load_core(command: list[str]) -> list[str]:
    return ["taskset", "-c", str(LOAD_CORE), *command] if pinning() else command


@contextlib.contextmanager
def on_the_load_core() -> Iterator[None]:
    """This process on the load core for the block, then on the cores it had: the servers started after
    it would otherwise inherit the one core (`make bench` ran scale-out's on one core, 2 processes
    serving less than 1)."""
    cores = os.sched_getaffinity(0)
    if pinning():
        os.sched_setaffinity(0, {LOAD_CORE})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cores)


def raise_open_files() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


SHOP = on_server_core(SHOP_COMMAND)


class Reference:
    """A reference server script beside this one (`python -m tests.benchmarks.NAME --port P`), pinned."""

    def __init__(self, module: str, *flags: str, pin: bool = True):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = (sys.executable, "-m", f"tests.benchmarks.{module}", f"--port={self.port}", *flags)
        self.command = on_server_core(command) if pin else command
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Reference:
        self.process = subprocess.Popen(self.command, env=shop_environment(), stdin=subprocess.DEVNULL)
        if not wait_until_serving(self.process, lambda: port_answers(self.port), 20):
            stop_process(self.process)
            raise RuntimeError(f"{self.command} did not start")
        return self

    def __exit__(self, *exc_info) -> None:
        stop_process(self.process)


def rss_kib(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text()).group(1))


# What Tornado itself writes on every answer or sets apart from the page (the XSRF cookie), and
# `Connection: close`, the answer to this one fetch's own request.
NOT_REPLAYED = {"Date", "Server", "Content-Length", "Set-Cookie", "Vary", "Transfer-Encoding", "Connection"}


def recorded_answer(url: str, cookie: str, to: Path) -> Path:
    """The shop's answer to GET `url` for this visitor, written `to` a file for reference_answer."""
    request = HTTPRequest(url, headers={"Cookie": cookie} if cookie else {},
                          decompress_response=False)  # as wrk asks: not compressed

    async def fetch():
        return await AsyncHTTPClient().fetch(request)

    answer = asyncio.run(fetch())
    headers = [[name, value] for name, value in answer.headers.get_all() if name not in NOT_REPLAYED]
    to.write_text(json.dumps({"headers": headers, "body": answer.body.decode()}), encoding="utf-8")
    return to


# --- wrk ---------------------------------------------------------------------------------------

def parse_wrk(output: str) -> dict:
    def ms(text: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    found = {f"p{q}": ms(v) for q, v in re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE)}
    assert {"p50", "p99"} <= set(found), f"wrk printed no latency distribution:\n{output}"
    found["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    found["non_2xx"] = int(errors.group(1)) if errors else 0
    return found


def wrk(url: str, seconds: float, script: str = "", connections: int = 50, pin: bool = True) -> dict:
    """One wrk run (one thread) against `url`, with an optional Lua `script`; pinned to the load core."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", lua.name, url]
        result = subprocess.run(on_load_core(command) if pin else command,
                                check=True, capture_output=True, text=True, timeout=seconds + 30)
    return parse_wrk(result.stdout)


def paced(rps: float, connections: int = 50) -> str:
    """Lua for wrk: each connection waits a random 0 to 2 x `connections` / `rps` seconds between
    an answer and its next request, so together they ask about `rps` a second: shoppers who pause
    between clicks, where a bare wrk keeps every connection waiting (a queue of 50)."""
    return f"\ndelay = function() return math.random(0, {2 * connections / rps * 1000:.0f}) end\n"


def lua_list(values: list[str]) -> str:
    return "{" + ",".join(f'"{v}"' for v in values) + "}"


def get_script(paths: list[str], cookie: str = "") -> str:
    """GET the paths in turn, each request with this Cookie header (none if empty)."""
    headers = f'{{["Cookie"] = "{cookie}"}}' if cookie else "nil"
    return f"""
local paths = {lua_list(paths)}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {headers})
end
"""


def in_turn(rounds: int, runs: dict[str, Callable[[int], T]], again: bool = True) -> dict[str, list[T]]:
    """Each of `runs` (given the round's number) once a round, in turn, for `rounds` rounds: the
    machine's speed moves by the minute and by more than the goals' margins, so figures to compare
    are taken seconds apart, and a ratio is the median of its rounds' (`median_ratio`). Each run
    starts on a quiet machine (`machine_quiet`). A round during which the host took a core's time
    away (`HostWatch`) is measured `again` while `MEASURED_AGAIN` has time for it."""
    figures: dict[str, list[T]] = {name: [] for name in runs}
    for number in range(rounds):
        start = time.monotonic()
        measured, watch = _one_round(runs, number)
        while again and watch.disturbed() and MEASURED_AGAIN.take(time.monotonic() - start):
            print(f"(the host took {watch.worst:.0%} of a core's time: measuring the round again)",
                  file=sys.stderr, flush=True)
            start = time.monotonic()
            measured, watch = _one_round(runs, number)
        for name, figure in measured.items():
            figures[name].append(figure)
    return figures


def _one_round(runs: dict[str, Callable[[int], T]], number: int) -> tuple[dict[str, T], HostWatch]:
    """Round `number` of `runs`, each on a quiet machine, and what the host took during them."""
    watch, measured = HostWatch(), {}
    for name, run in runs.items():
        machine_quiet()
        with watch:
            measured[name] = run(number)
    return measured, watch


def stolen_seconds() -> list[float]:
    """Each core's time the host has so far given to other machines while this one had work for it
    (`steal` in /proc/stat): none on a machine of its own, at times half a core on a shared one."""
    lines = Path("/proc/stat").read_text().splitlines()
    ticks = [int(line.split()[8]) for line in lines if re.match(r"cpu\d", line)]
    return [tick / os.sysconf("SC_CLK_TCK") for tick in ticks]


class HostWatch:
    """The share of a core's time the host took away during the runs it watches (`with watch:`), the
    core it took most from. Hello world read 1,000 req/s with half of its core taken and 4,000
    without a minute later: a run the host slowed measures the host, not the server."""

    MOST = 0.05  # a run during which the host took more of a core's time is disturbed

    def __init__(self) -> None:
        self.worst = 0.0

    def __enter__(self) -> HostWatch:
        self._stolen, self._start = stolen_seconds(), time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        elapsed = time.monotonic() - self._start
        taken = max((after - before for before, after in zip(self._stolen, stolen_seconds(), strict=True)),
                    default=0.0)
        self.worst = max(self.worst, taken / elapsed if elapsed else 0.0)

    def disturbed(self) -> bool:
        return self.worst > self.MOST


class MeasuredAgain:
    """The time a run of the benchmarks may spend measuring disturbed rounds again (`in_turn`; and
    scale-out's lone servers kept waiting, `bench_scale_out.FILLED`): once spent, a round counts as
    it is, so the run still ends in its time."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds
        self.rounds = 0  # measured again, in all

    def allow(self, seconds: float) -> None:
        """From now on, `seconds` in all (each part of `make bench` its own)."""
        self.left = seconds

    def take(self, seconds: float) -> bool:
        """Whether a round that took `seconds` may be measured again (and that time spent on it)."""
        if seconds > self.left:
            return False
        self.left -= seconds
        self.rounds += 1
        return True


MEASURED_AGAIN = MeasuredAgain(60.0)


def machine_busy_seconds() -> float:
    """The CPU time every core of the machine has spent busy so far (the first line of /proc/stat), on
    its own work: not the time the host gave to other machines (steal, `stolen_seconds`), which is
    neither a server's nor nginx's and wrk's (scale-out's "everything else" row had it in it)."""
    ticks = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def machine_quiet(seconds: float = 0.25, most: float = 3.0) -> None:
    """Return once the whole machine has been nearly idle for `seconds`, or after `most` seconds,
    saying so: what the last run left running (a server closing 10,000 connections, a folder
    being deleted) would otherwise slow the next run, and only that one."""
    start = time.monotonic()
    asyncio.run(_steady(machine_busy_seconds, lambda last, now: now - last < seconds / 10, seconds, most))
    if time.monotonic() - start >= most:
        print(f"(the machine was still busy after {most:.0f} s: measuring anyway)", file=sys.stderr, flush=True)


def median_ratio(ours: list[float], reference: list[float]) -> float:
    return statistics.median(one / other for one, other in zip(ours, reference, strict=True))


# --- raw connections -----------------------------------------------------------------------------

class Race:
    """How long until every connection has seen `needle` in what it received, from `start()`."""

    def __init__(self, needle: bytes, expected: int):
        self.needle = needle
        self.waiting = expected
        self.started = time.monotonic()
        self.last = self.started
        self.done = asyncio.get_running_loop().create_future()
        if expected == 0:
            self.done.set_result(None)

    def start(self) -> None:
        self.started = time.monotonic()

    def seen(self) -> None:
        self.waiting -= 1
        self.last = time.monotonic()
        if self.waiting == 0 and not self.done.done():
            self.done.set_result(None)

    @property
    def seconds(self) -> float:
        return self.last - self.started


class RawConnection(asyncio.Protocol):
    """Sends `request` on connect; then watches what arrives for the current race's needle."""

    __slots__ = ("_tail", "answered", "closed", "race", "request", "transport")

    def __init__(self, request: bytes):
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.race: Race | None = None
        self._tail = b""
        self.answered = asyncio.get_running_loop().create_future()  # the HTTP answer's head
        self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def watch(self, race: Race) -> None:
        """Look for `race`'s needle in what arrives from now on."""
        self.race = race
        self._tail = b""

    def data_received(self, data: bytes) -> None:
        seen = self._tail + data
        if not self.answered.done() and b"\r\n\r\n" in seen:
            self.answered.set_result(seen.split(b"\r\n", 1)[0])
        race = self.race
        if race is not None and race.needle in seen:
            self.race = None
            race.seen()
        self._tail = seen[-64:]

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self.answered.done():
            self.answered.set_result(b"closed before answering")

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_many(port: int, requests: list[bytes], wait_answer: bool) -> list[RawConnection]:
    """Open one connection per request, CONNECT_BATCH at a time; with `wait_answer`, each answered."""
    loop = asyncio.get_running_loop()
    connections: list[RawConnection] = []
    for start in range(0, len(requests), CONNECT_BATCH):
        batch = await asyncio.gather(*(
            loop.create_connection(lambda r=r: RawConnection(r), "127.0.0.1", port)
            for r in requests[start:start + CONNECT_BATCH]))
        opened = [protocol for _, protocol in batch]
        if wait_answer:
            heads = await asyncio.gather(*(c.answered for c in opened))
            bad = [h for h in heads if b" 101 " not in h and b" 200 " not in h]
            assert not bad, f"refused: {bad[0]!r}"
        connections += opened
    return connections


def websocket_request(port: int, path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def get_request(port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def client_text_frame(message: dict) -> bytes:
    """A masked text frame, as clients must send (RFC 6455 5.3); short messages only."""
    payload = json.dumps(message).encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def race(connections: list[RawConnection], needle: bytes, trigger: Callable, timeout: float = 60) -> float:
    """Seconds from calling `trigger()` (maybe a coroutine) until every connection has seen `needle`."""
    current = Race(needle, len(connections))
    for connection in connections:
        connection.watch(current)
    current.start()
    started = trigger()
    if asyncio.iscoroutine(started):
        await started
    await asyncio.wait_for(current.done, timeout)
    return current.seconds


async def _steady(measure: Callable[[], float], still: Callable[[float, float], bool], seconds: float,
                  most: float) -> float:
    """`measure()` once two readings `seconds` apart are `still` (or after `most` seconds)."""
    deadline = time.monotonic() + most
    last = measure()
    while time.monotonic() < deadline:
        await asyncio.sleep(seconds)
        now = measure()
        if still(last, now):
            return now
        last = now
    return last


async def quiet(pid: int, seconds: float = 0.3, most: float = 30) -> None:
    """Once process `pid` has used almost no CPU for `seconds` (or after `most`): all sent to it handled."""
    await _steady(lambda: cpu_seconds(pid), lambda last, now: now - last < seconds / 20, seconds, most)


async def settle(pid: int, seconds: float = 0.5, most: float = 10) -> int:
    """The RSS of `pid` once it stops changing for `seconds` (or after `most`): connections all held."""
    return int(await _steady(lambda: rss_kib(pid), lambda last, now: now == last, seconds, most))


# --- the table -----------------------------------------------------------------------------------

class Row:
    """One line of the table: our figure, the reference's, their ratio and the goal for it."""

    def __init__(self, what: str, ours: float, reference: float, unit: str, goal: str,
                 ratio_at_most: float | None = None, ratio_at_least: float | None = None,
                 ratio: float | None = None):
        """`ratio`: when the figures are medians of rounds, the median of the rounds' ratios."""
        self.what, self.ours, self.reference, self.unit, self.goal = what, ours, reference, unit, goal
        self.ratio = ratio if ratio is not None else ours / reference if reference else float("nan")
        if ratio_at_most is not None:
            self.met: bool | None = self.ratio <= ratio_at_most
        elif ratio_at_least is not None:
            self.met = self.ratio >= ratio_at_least
        else:
            self.met = None

    def line(self) -> str:
        verdict = {True: "met", False: "NOT MET", None: ""}[self.met]
        ratio = "n/a" if math.isnan(self.ratio) else f"{self.ratio:.2f}"  # a reference of zero
        return (f"| {self.what} | {self.ours:,.1f} {self.unit} | {self.reference:,.1f} {self.unit} | "
                f"{ratio} | {self.goal} | {verdict} |")


def print_table(rows: list[Row]) -> None:
    print("| what | ours | reference | ratio | goal | |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row.line())
    sys.stdout.flush()
