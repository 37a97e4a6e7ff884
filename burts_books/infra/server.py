"""The HTTP server of a shop process, made to hold up when clients hold more connections than it has files.

Tornado's own accept loop (`tornado.netutil.add_accept_handler`) lets an
accept() that finds no free file descriptor (EMFILE, ENFILE) escape to the
event loop, which logs it and calls the loop again at once, because the
waiting connection still makes the listening socket readable: a busy spin
that logs a traceback a turn and serves nobody. `ShopServer` accepts by
itself instead:

- it stops accepting while `max_connections` client connections are open
  (by default the open-file limit less a reserve for the database, Redis and
  files), and starts again as soon as one closes;
- if accept() still finds no file descriptor, it stops for a moment;
- meanwhile new connections wait in the kernel's listen backlog, and the log
  says so at most once a minute.

It closes a connection that sends no request for `idle_timeout` seconds (an
idle keep-alive one, or one still sending its headers) from one timer for
all, every `idle_timeout / 8` seconds or ten at most. Tornado's own timeout
(`idle_connection_timeout`) wraps the reading of every request's headers in
a timeout future and a timer: 6 % of releasing 10,000 long polls.

A turn of the event loop starts at most `REQUESTS_PER_TURN` requests; the
others that became ready with them start in the turns after, in order. Fifty
pages at about a millisecond each, all started in one turn, would keep every
timer, finished write and journal acknowledgement waiting for all fifty.

It also drains (`drain`): stops accepting, lets the requests under way finish
(each answer then closes its connection, `Connection: close`), closes idle
keep-alive connections, and cuts what remains at a deadline. nginx sends a
request that finds a process gone to the next one (`proxy_next_upstream`).
"""

from __future__ import annotations

import asyncio
import collections
import errno
import logging
import resource
import socket
from collections.abc import Callable, Iterable

import tornado.httpserver
import tornado.iostream
from tornado import httputil
from tornado.http1connection import HTTP1ServerConnection
from tornado.ioloop import IOLoop, PeriodicCallback

from .throttled_log import ThrottledLog

log = logging.getLogger(__name__)

FILE_RESERVE = 100  # descriptors kept from clients: database and Redis pools, store files, logs
ACCEPT_BATCH = 128  # as Tornado: at most this many accepts in a row, then other work runs
NO_FILES_PAUSE = 0.25  # seconds without accepting after accept() found no file descriptor
DRAIN_CHECK = 0.05  # seconds between looks for requests still under way while draining
IDLE_CHECKS = 8  # looks for idle connections per idle timeout: one is closed at most an eighth late
IDLE_CHECK_MOST = 10.0  # seconds between those looks at most
REQUESTS_PER_TURN = 8  # requests started in one turn of the event loop at most (see above)
# Connections the kernel completes for us before we accept them. Tornado's 128 drops the SYNs of a
# larger burst (every page reconnecting its live feed after a restart), and each dropped one
# waits a second or more to be sent again; Linux caps it at net.core.somaxconn.
LISTEN_BACKLOG = 1024
# Linux hands on the error of a connection that failed while it waited: skip it, as for EAGAIN (man 2 accept).
_SKIP = {errno.ECONNABORTED, errno.EPROTO, errno.ENETDOWN, errno.ENOPROTOOPT, errno.EHOSTDOWN,
         errno.ENONET, errno.EHOSTUNREACH, errno.EOPNOTSUPP, errno.ENETUNREACH}


def raise_open_file_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit; log and return the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        log.info("open-file limit: %d", soft)
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:  # say, an unlimited hard limit, which Linux refuses as a soft one
        log.warning("could not raise the open-file limit from %d to %d: %s", soft, hard, exc)
        return soft
    raised = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    log.info("open-file limit raised from %d to %d", soft, raised)
    return raised


def connection_limit(configured: int | None, open_files: int) -> int:
    """`configured`, or what the open-file limit leaves once the reserve is kept (half of a small limit)."""
    return configured or max(open_files - FILE_RESERVE, open_files // 2)


class ShopServer(tornado.httpserver.HTTPServer):
    """Tornado's HTTPServer with an accept loop that holds up near the open-file limit (see above).

    TLS ends at nginx: this server speaks plain HTTP only.
    """

    def initialize(self, *args, max_connections: int, idle_timeout: float, **kwargs) -> None:  # type: ignore[override]
        super().initialize(*args, **kwargs)
        self.conn_params.header_timeout = None  # see _close_idle
        self.idle_timeout = idle_timeout
        self._idle_since: dict[HTTP1ServerConnection, float] = {}  # connections waiting for a request: since when
        self._idle_checks = PeriodicCallback(self._close_idle, min(idle_timeout / IDLE_CHECKS, IDLE_CHECK_MOST) * 1000)
        self.max_connections = max_connections
        self.open_connections = 0
        self._listening: list[socket.socket] = []
        self._accepting = False
        self._stopped = False
        self._pause: object | None = None
        self._full_log = ThrottledLog(log)
        self._no_files_log = ThrottledLog(log)
        self._busy: set[HTTP1ServerConnection] = set()  # connections with a request under way
        self._started_this_turn = 0  # requests started in this turn of the event loop (see start_in_turn)
        self._turn_counted = False  # whether the turn's end is marked (a callback for the next turn)
        self._waiting_to_start: collections.deque[Callable[[], None]] = collections.deque()

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        """Called as a connection waits for its next request: it is idle until that request's headers arrive."""
        assert isinstance(server_conn, HTTP1ServerConnection)
        self._busy.discard(server_conn)
        self._idle_since[server_conn] = IOLoop.current().time()
        return _BusyWhileAnswering(self, server_conn, super().start_request(server_conn, request_conn))

    def answering(self, server_conn: HTTP1ServerConnection) -> None:
        """A request's headers have arrived on `server_conn`: busy until its answer is written."""
        self._busy.add(server_conn)
        self._idle_since.pop(server_conn, None)

    def start_in_turn(self, start: Callable[[], None]) -> None:
        """Start a request now (`start`), or once the requests before it have, if this turn of the
        event loop has started REQUESTS_PER_TURN already."""
        if not self._turn_counted:
            self._count_next_turn()
        if self._started_this_turn < REQUESTS_PER_TURN and not self._waiting_to_start:
            self._started_this_turn += 1
            start()
        else:
            self._waiting_to_start.append(start)

    def _count_next_turn(self) -> None:
        self._turn_counted = True
        IOLoop.current().add_callback(self._next_turn)

    def _next_turn(self) -> None:
        self._turn_counted = False
        self._started_this_turn = 0
        while self._waiting_to_start and self._started_this_turn < REQUESTS_PER_TURN:
            self._started_this_turn += 1
            self._waiting_to_start.popleft()()
        if self._started_this_turn:  # so that this turn's count is ended too
            self._count_next_turn()

    def on_close(self, server_conn: object) -> None:
        assert isinstance(server_conn, HTTP1ServerConnection)
        self._busy.discard(server_conn)
        self._idle_since.pop(server_conn, None)
        super().on_close(server_conn)

    def _close_idle(self) -> None:
        started_before = IOLoop.current().time() - self.idle_timeout
        for conn in [conn for conn, since in self._idle_since.items() if since < started_before]:
            conn.stream.close()  # its request loop ends, and on_close forgets it

    @property
    def requests_under_way(self) -> int:
        return len(self._busy)

    async def drain(self, timeout: float) -> bool:
        """Stop accepting and close every connection once its request is answered; True if all were within
        `timeout` seconds (the rest are then cut). WebSockets have left HTTP: the live feed closes those."""
        self.stop()
        self.conn_params.no_keep_alive = True  # every request read from now on closes its connection when answered
        deadline = IOLoop.current().time() + timeout
        while True:
            idle = [conn for conn in self._connections if conn not in self._busy]
            # All in this one step: closed one by one, awaiting each, a connection still to close could
            # meanwhile take a request (nginx reuses its idle upstream connections) and be cut under it,
            # a WebSocket's handshake included, which then ended with no close code.
            for conn in idle:
                conn.stream.close()
            await asyncio.gather(*(conn.close() for conn in idle))
            if not self._busy or IOLoop.current().time() >= deadline:
                break
            await asyncio.sleep(DRAIN_CHECK)
        unanswered = len(self._busy)
        if unanswered:
            log.warning("%d requests still under way after %g s: cutting them off", unanswered, timeout)
        await self.close_all_connections()
        return not unanswered

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        self._stop_accepting()
        self._listening.extend(sockets)
        self._start_accepting()
        self._idle_checks.start()

    def stop(self) -> None:
        self._stopped = True
        self._idle_checks.stop()  # drain closes the idle connections itself
        self._stop_accepting()
        for sock in self._listening:
            sock.close()
        self._listening = []

    def connection_closed(self) -> None:
        self.open_connections -= 1
        self._start_accepting()

    def _start_accepting(self) -> None:
        if self._pause is not None:
            IOLoop.current().remove_timeout(self._pause)
            self._pause = None
        if self._accepting or self._stopped or self.open_connections >= self.max_connections:
            return
        for sock in self._listening:
            IOLoop.current().add_handler(sock, self._accept, IOLoop.READ)
        self._accepting = True

    def _stop_accepting(self) -> None:
        if self._accepting:
            for sock in self._listening:
                IOLoop.current().remove_handler(sock)
            self._accepting = False

    def _accept(self, sock: socket.socket, _events: int) -> None:
        for _ in range(ACCEPT_BATCH):
            if self.open_connections >= self.max_connections:
                self._full_log.warning(
                    "%d connections open, the most allowed (--max-connections): new ones wait until one closes",
                    self.open_connections,
                )
                self._stop_accepting()  # until connection_closed()
                return
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _SKIP:
                    continue
                self._no_files_log.warning(
                    "cannot accept connections (%s) with %d open: pausing for %.2f s at a time",
                    exc.strerror, self.open_connections, NO_FILES_PAUSE,
                )
                self._stop_accepting()
                self._pause = IOLoop.current().call_later(NO_FILES_PAUSE, self._start_accepting)
                return
            stream = _CountedStream(self, connection, max_buffer_size=self.max_buffer_size,
                                    read_chunk_size=self.read_chunk_size)
            self.open_connections += 1
            self.handle_stream(stream, address)


class _BusyWhileAnswering(httputil.HTTPMessageDelegate):
    """The application's delegate for one request, marking its connection busy once the headers arrive."""

    def __init__(self, server: ShopServer, connection: HTTP1ServerConnection, delegate: httputil.HTTPMessageDelegate):
        self._server = server
        self._connection = connection
        self._delegate = delegate
        self._closed = False

    def headers_received(self, start_line, headers):
        self._server.answering(self._connection)
        return self._delegate.headers_received(start_line, headers)

    def data_received(self, chunk):
        return self._delegate.data_received(chunk)

    def finish(self) -> None:
        self._server.start_in_turn(self._start)

    def _start(self) -> None:
        if not self._closed:  # a client gone before its request's turn came is answered by nobody
            self._delegate.finish()

    def on_connection_close(self) -> None:
        self._closed = True
        self._delegate.on_connection_close()


class _CountedStream(tornado.iostream.IOStream):
    """A client connection that tells its server when its file descriptor is closed.

    Counting file descriptors rather than HTTP connections keeps WebSockets,
    which leave the HTTP layer once upgraded, in the count.
    """

    def __init__(self, server: ShopServer, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._server = server
        # Answers and frames go out whole, so Nagle's algorithm has nothing to gather and only
        # delays: a frame written while the one before is unacknowledged waits for the client's
        # delayed ACK. On for good, then; Tornado turns it on and off around every answer.
        super().set_nodelay(True)

    def set_nodelay(self, value: bool) -> None:
        """Tornado's own calls, around every answer: Nagle's algorithm stays off (see __init__)."""

    def close_fd(self) -> None:
        super().close_fd()
        self._server.connection_closed()
