"""Waiting for something to happen, instead of sleeping and hoping: conditions and bus events.

A timeout here is only how long to wait before calling the test failed; no
test asserts how fast something happened through these.
"""

import asyncio
import inspect

# Seconds before a test gives up on what it waits for: under pytest-tornado's 5-second limit on a test,
# so a test that waits in vain fails saying what it waited for.
WAIT_TIMEOUT = 4.0
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


async def result_of(awaitable, timeout=WAIT_TIMEOUT, message="timed out waiting"):
    """What `awaitable` (a coroutine, or a task already running) comes to; fails with `message` if it never does."""
    task = asyncio.ensure_future(awaitable)
    await until(task.done, timeout, message)
    return task.result()


def recorder(bus):
    """A list that collects every event the bus delivers from now on."""
    events = []
    bus.subscribe(events.append)
    return events
