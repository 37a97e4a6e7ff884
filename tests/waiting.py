"""Waiting for something to happen, instead of sleeping and hoping: conditions and bus events.

A timeout here is only how long to wait before calling the test failed; no
test asserts how fast something happened through these.
"""

import asyncio
import inspect

WAIT_TIMEOUT = 5.0  # seconds before a test gives up on what it waits for
CHECK_EVERY = 0.01


async def until(predicate, timeout=WAIT_TIMEOUT, message="timed out waiting"):
    """Return once `predicate()` is true; it may be a coroutine function (say, a store read)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        holds = predicate()
        if inspect.isawaitable(holds):
            holds = await holds
        if holds:
            return
        assert asyncio.get_running_loop().time() < deadline, message
        await asyncio.sleep(CHECK_EVERY)


def recorder(bus):
    """A list that collects every event the bus delivers from now on."""
    events = []
    bus.subscribe(events.append)
    return events
