"""The event loop a shop process runs on: uvloop (libuv's loop, written in C) by default, or Python's own.

Tornado runs on any asyncio loop. With uvloop less of every request's time goes
to the loop itself and its sockets; `--event-loop=asyncio` is there for a
platform uvloop does not build on (Windows) and for comparing the two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .config import ConfigError


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if choice == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        raise ConfigError("--event-loop=uvloop: uvloop is not installed here; use --event-loop=asyncio") from None
    return uvloop.new_event_loop


def running() -> str:
    """Which loop this process runs on, as the log names it: its package ("uvloop", "asyncio")."""
    return type(asyncio.get_running_loop()).__module__.partition(".")[0]
