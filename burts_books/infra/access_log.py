"""The access log, one line per request, and the request id that ties a line to what the visitor saw.

A request id comes from nginx's X-Request-Id when the shop trusts its proxy's
headers (--xheaders), so nginx's log and ours name a request alike; otherwise
it is made here, since anyone could send the header. It is returned in the
X-Request-Id response header and shown on error pages.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys

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


def write(request: HTTPServerRequest, status: int, milliseconds: float, rid: str, *, as_json: bool,
          routine: bool = False) -> None:
    """Log one answered request: server errors as errors, refusals as warnings, the rest as info
    (`routine` answers, too many and too alike to read one by one, as debug)."""
    level = (logging.ERROR if status >= 500 else logging.WARNING if status >= 400
             else logging.DEBUG if routine else logging.INFO)
    if log.isEnabledFor(level):  # nothing is built for a log that is off
        # Logger.log() would walk the stack to find this line, for every request: it is known.
        text = line(request, status, milliseconds, rid, as_json=as_json)
        log.handle(log.makeRecord(log.name, level, __file__, sys._getframe().f_lineno, text, (), None, "write"))


def to_stderr_as_json_lines() -> None:
    """Access lines alone on standard error, each a JSON object, for a log shipper to read as they are."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.propagate = False
