"""The loop-lag probe notices a callback that holds the event loop, and says so."""

import asyncio
import logging
import time

import pytest

from burts_books.loop_lag import LoopLagProbe


@pytest.mark.gen_test
async def test_a_held_loop_is_measured_and_logged_once(caplog):
    probe = LoopLagProbe(interval=0.005, warn_after=0.05)
    probe.start()
    await asyncio.sleep(0.02)
    assert probe.longest < 0.05  # an idle loop is not held
    with caplog.at_level(logging.INFO, logger="burts_books.loop_lag"):
        time.sleep(0.12)  # noqa: ASYNC251 -- the blocking call under test, as a slow query would be
        await asyncio.sleep(0.02)
        time.sleep(0.12)  # noqa: ASYNC251 -- a second stall soon after: measured, not logged again
        await asyncio.sleep(0.02)
        await probe.stop()
    assert probe.longest >= 0.1
    held = [r.getMessage() for r in caplog.records if "was held" in r.getMessage()]
    assert len(held) == 1 and held[0].startswith("the event loop was held for 1")
    assert any("longest stall 1" in r.getMessage() for r in caplog.records)
