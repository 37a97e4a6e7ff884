"""The loop-lag probe notices a callback that holds the event loop, and says so.

Time is the behaviour here, so the test times things, with wide margins: a
stall well past the threshold, and an idle loop well under it even on a busy
machine.
"""

import asyncio
import logging
import re
import time

import pytest

from burts_books.infra.loop_lag import LoopLagProbe

WARN_AFTER = 0.1  # seconds: the probe's threshold in this test
STALL = 0.25  # seconds each blocking call holds the loop
MEASURED = STALL - 0.02  # the least the probe may report for one


def milliseconds(pattern, records):
    """The numbers (in ms) in the log messages that match `pattern` (a regex with one number group)."""
    found = [re.search(pattern, record.getMessage()) for record in records]
    return [float(match.group(1)) for match in found if match]


@pytest.mark.gen_test
async def test_a_held_loop_is_measured_and_logged_once(caplog):
    probe = LoopLagProbe(interval=0.005, warn_after=WARN_AFTER)
    probe.start()
    await asyncio.sleep(0.02)
    assert probe.longest < WARN_AFTER  # an idle loop is not held
    with caplog.at_level(logging.INFO, logger="burts_books.infra.loop_lag"):
        time.sleep(STALL)  # noqa: ASYNC251 -- the blocking call under test, as a slow query would be
        await asyncio.sleep(0.02)
        time.sleep(STALL)  # noqa: ASYNC251 -- a second stall soon after: measured, not logged again
        await asyncio.sleep(0.02)
        probe.stop()
    assert probe.longest >= MEASURED
    [held] = milliseconds(r"^the event loop was held for (\d+) ms$", caplog.records)
    assert held >= MEASURED * 1000
    [longest] = milliseconds(r"longest stall ([\d.]+) ms", caplog.records)
    assert longest == pytest.approx(probe.longest * 1000, abs=0.1)


@pytest.mark.gen_test
async def test_a_stall_is_measured_alone_not_with_the_turn_after_it():
    """The wake-up due during one held callback runs first in the next turn: the stall reported
    is that callback's, not that plus another callback which the same turn runs afterwards."""
    interval = 0.05
    probe = LoopLagProbe(interval=interval, warn_after=WARN_AFTER)
    probe.start()
    await asyncio.sleep(0)
    asyncio.get_running_loop().call_later(interval + 0.005, time.sleep, STALL)  # due just after the probe
    time.sleep(STALL)  # noqa: ASYNC251 -- the stall under test, which the wake-up was due in
    await asyncio.sleep(0.05)
    probe.stop()
    assert STALL - interval - 0.02 <= probe.longest < STALL + 0.1


def spin(seconds: float) -> None:
    """Hold the loop computing, as a big render would."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.mark.gen_test
async def test_a_stall_spent_computing_counts_in_cpu_time_and_one_spent_waiting_does_not():
    waiting, computing = LoopLagProbe(), LoopLagProbe()
    waiting.start()
    await asyncio.sleep(0.02)
    time.sleep(STALL)  # noqa: ASYNC251 -- a wait, as a blocking call or a descheduled process
    await asyncio.sleep(0.02)
    waiting.stop()
    computing.start()
    await asyncio.sleep(0.02)
    spin(STALL)
    await asyncio.sleep(0.02)
    computing.stop()
    assert waiting.longest >= MEASURED and waiting.longest_busy < WARN_AFTER
    assert computing.longest >= MEASURED and computing.longest_busy >= MEASURED - 0.05
