"""Readiness: do the database and Redis answer? (No HTTP here: web/health.py serves the answer.)"""

from __future__ import annotations

import asyncio
import logging

from .bus import EventBus
from .db import Database

log = logging.getLogger(__name__)

PING_TIMEOUT = 2.0  # seconds: a readiness probe must answer before the prober gives up (often 5 s)


async def _database_answers(db: Database) -> None:
    if not db.embedded:  # the embedded store lives in this process: it answers if the process does
        await db.client.admin.command("ping")


async def failing(db: Database, bus: EventBus, timeout: float = PING_TIMEOUT) -> list[str]:
    """The names of what does not answer within `timeout` seconds: "database", "redis"; empty when all do."""
    checks = {"database": _database_answers(db), "redis": bus.ping()}
    results = await asyncio.gather(*(asyncio.wait_for(check, timeout) for check in checks.values()),
                                   return_exceptions=True)
    failed = []
    for name, result in zip(checks, results, strict=True):
        if isinstance(result, Exception):  # a timeout, a refused connection, a server error...
            log.debug("readiness: %s failed: %r", name, result)
            failed.append(name)
    return failed
