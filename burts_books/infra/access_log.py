"""The access log, one line per request, and the request id that ties a line to what the visitor saw.

A request id comes from nginx's X-Request-Id when the shop trusts its proxy's
headers (--xheaders), so nginx's log and ours name a request alike; otherwise
it is made here, since anyone could send the header. It is returned in the
X-Request-Id response header and shown on error pages.

A serving process writes its lines once per turn of the event loop (`write_once_a_turn`);
anywhere else (tests, tools) they are `logging` records of "burts_books.access".
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import re
import secrets
import sys
import time
from typing import TextIO

from tornado.httputil import HTTPServerRequest

log = logging.getLogger("burts_books.access")

HEADER = "X-Request-Id"
_VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # nginx's $request_id is 32 hex digits; a UUID fits too
_ATTRIBUTE = "_burts_request_id"


def request_id(request: HTTPServerRequest, trusted: bool) -> str:
    """This request's id: the proxy's when `trusted` and well-formed, else a new one; the same every call."""
    existing = getattr(request, _ATTRIBUTE, None)
    if existing is None:
        given = request.headers.get(HEADER, "") if trusted else ""
        existing = given if _VALID.fullmatch(given) else secrets.token_hex(16)
        setattr(request, _ATTRIBUTE, existing)
    return existing


def line(request: HTTPServerRequest, status: int, milliseconds: float, rid: str, *, as_json: bool) -> str:
    """The log line of one answered request. The path only: a query string may carry what the log must not."""
    if as_json:
        return json.dumps({"method": request.method, "path": request.path, "status": status,
                           "ms": round(milliseconds, 1), "request_id": rid, "remote_ip": request.remote_ip},
                          separators=(",", ":"))
    return f"{request.method} {request.path} {status} {milliseconds:.1f}ms {request.remote_ip} id={rid}"


class TurnLines:
    """Access lines for a stream, written together at the end of each turn of the event loop.

    Through `logging` every line would be a record, Tornado's formatter, a write and a flush, which
    cost a busy shop a tenth of what it serves (/recommended/ served 11-17 % more this way in A/B runs).
    The lines of a turn go out in the order their requests were answered, in one write, before the
    loop waits again; a process killed outright loses at most that turn's lines.
    Text lines begin as the rest of the log does (level, time, where from); JSON lines are the object alone.
    """

    def __init__(self, stream: TextIO, as_json: bool):
        self.stream = stream
        self.as_json = as_json
        self.lines: list[tuple[int, str]] = []

    def add(self, level: int, text: str) -> None:
        if not self.lines:
            asyncio.get_running_loop().call_soon(self.flush)
        self.lines.append((level, text))

    def flush(self) -> None:
        lines, self.lines = self.lines, []
        if not lines:
            return
        if self.as_json:
            self.stream.write("".join(f"{text}\n" for _, text in lines))
        else:
            stamp = time.strftime("%y%m%d %H:%M:%S")  # Tornado's log time, read once a turn
            self.stream.write("".join(f"[{logging.getLevelName(level)[0]} {stamp} access] {text}\n"
                                      for level, text in lines))
        self.stream.flush()


_turn_lines: TurnLines | None = None


def write_once_a_turn(as_json: bool) -> None:
    """From now on this process writes its access lines to standard error once a turn (TurnLines),
    as text or as JSON objects alone on their lines (for a log shipper); the last turn's at exit."""
    global _turn_lines
    _turn_lines = TurnLines(sys.stderr, as_json)
    atexit.register(_turn_lines.flush)


def write(request: HTTPServerRequest, status: int, milliseconds: float, rid: str, *, as_json: bool,
          routine: bool = False) -> None:
    """Log one answered request: server errors as errors, refusals as warnings, the rest as info
    (`routine` answers, too many and too alike to read one by one, as debug)."""
    level = (logging.ERROR if status >= 500 else logging.WARNING if status >= 400
             else logging.DEBUG if routine else logging.INFO)
    if log.isEnabledFor(level):  # nothing is built for a log that is off
        text = line(request, status, milliseconds, rid, as_json=as_json)
        if _turn_lines is not None:
            _turn_lines.add(level, text)
        else:
            # Logger.log() would walk the stack to find this line, for every request: it is known.
            log.handle(log.makeRecord(log.name, level, __file__, sys._getframe().f_lineno, text, (), None, "write"))
