"""The limits themselves: counted per window in one process, or in Redis across processes,
and a Redis that fails or hangs lets the shop go on serving."""

import asyncio
import logging

import pytest

from burts_books.infra import clock
from burts_books.infra.config import Settings
from burts_books.infra.errors import TooMany
from burts_books.infra.limits import Limit, Limits, MemoryCounters
from tests.waiting import result_of, until

THREE_A_MINUTE = Limit("test", 3, 60, "Slow down: try again {wait}.")


@pytest.fixture
def moving_clock(monkeypatch):
    """The clock limits read, moved by the test: `moving_clock[0] += seconds`."""
    now = [1000.0]
    monkeypatch.setattr(clock, "monotonic", lambda: now[0])
    return now


async def refusal(limits, subject="someone"):
    with pytest.raises(TooMany) as refused:
        await limits.hit(THREE_A_MINUTE, subject)
    return refused.value


@pytest.mark.gen_test
async def test_a_subject_is_refused_past_its_limit_until_its_window_closes(moving_clock):
    limits = Limits(Settings())
    for _ in range(3):
        await limits.hit(THREE_A_MINUTE, "someone")
    await limits.hit(THREE_A_MINUTE, "someone else")  # counted apart

    refused = await refusal(limits)
    assert (refused.retry_after, str(refused)) == (60, "Slow down: try again in 60 seconds.")
    moving_clock[0] += 45
    assert (await refusal(limits)).retry_after == 15  # the window opened at the first hit, not the last
    moving_clock[0] += 15
    await limits.hit(THREE_A_MINUTE, "someone")


@pytest.mark.gen_test
async def test_a_use_forgiven_is_not_counted(moving_clock):
    limits = Limits(Settings())
    for _ in range(3):
        await limits.hit(THREE_A_MINUTE, "someone")
        await limits.forgive(THREE_A_MINUTE, "someone")
    for _ in range(3):
        await limits.hit(THREE_A_MINUTE, "someone")
    await refusal(limits)


@pytest.mark.gen_test
async def test_in_process_counters_forget_closed_windows_and_stay_bounded(moving_clock):
    counters = MemoryCounters(size=100)
    for n in range(1000):  # a flood of subjects, each hitting once
        await counters.hit(f"subject {n}", 60)
    assert len(counters.entries) == 100
    assert await counters.hit("subject 999", 60) == (2, 60)  # the newest are kept

    moving_clock[0] += 60
    assert await counters.hit("newcomer", 60) == (1, 60)  # the next hit sweeps the closed windows away
    assert len(counters.entries) == 1
    assert await counters.hit("subject 999", 60) == (1, 60)  # a new window: counted afresh


@pytest.mark.gen_test
async def test_processes_sharing_redis_count_together(redis_server):
    settings = Settings(redis_url=redis_server.url)
    one, other = Limits(settings), Limits(settings)  # as two shop processes hold them
    try:
        await one.hit(THREE_A_MINUTE, "someone")
        await other.hit(THREE_A_MINUTE, "someone")
        await one.hit(THREE_A_MINUTE, "someone")
        refused = await refusal(other)
        assert 58 <= refused.retry_after <= 60  # what Redis says is left of the window
        await refusal(one)
        await other.hit(THREE_A_MINUTE, "someone else")
    finally:
        await one.close()
        await other.close()


@pytest.mark.gen_test
async def test_a_subject_forgiven_in_one_process_is_forgiven_in_all(redis_server):
    settings = Settings(redis_url=redis_server.url)
    one, other = Limits(settings), Limits(settings)
    try:
        for _ in range(3):
            await one.hit(THREE_A_MINUTE, "someone")
        await other.forgive(THREE_A_MINUTE, "someone")
        await one.hit(THREE_A_MINUTE, "someone")
        await refusal(other)
    finally:
        await one.close()
        await other.close()


@pytest.mark.gen_test(timeout=15)
async def test_with_redis_down_requests_go_through_with_one_warning(redis_server, caplog):
    limits = Limits(Settings(redis_url=redis_server.url))
    try:
        for _ in range(3):
            await limits.hit(THREE_A_MINUTE, "someone")
        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="burts_books.infra.limits"):
            for _ in range(5):
                await limits.hit(THREE_A_MINUTE, "someone")  # not refused: Redis can't say
        warnings = [r.getMessage() for r in caplog.records if r.name == "burts_books.infra.limits"]
        assert len(warnings) == 1 and "not limiting until it answers" in warnings[0]

        redis_server.start()  # empty: it kept nothing
        with caplog.at_level(logging.INFO, logger="burts_books.infra.limits"):
            # Requests skip Redis until a probe in the background hears it again.
            await until(lambda: "answers again" in caplog.text)
        for _ in range(3):
            await limits.hit(THREE_A_MINUTE, "someone")
        await refusal(limits)
    finally:
        await limits.close()


@pytest.mark.gen_test(timeout=15)
async def test_a_hung_redis_holds_no_request_longer_than_the_timeout(redis_server):
    limits = Limits(Settings(redis_url=redis_server.url))
    try:
        await limits.hit(THREE_A_MINUTE, "someone")  # connected
        redis_server.pause()
        try:
            # Five at once: each gives up after the timeout (0.5 s), none waits for Redis.
            hits = asyncio.gather(*(limits.hit(THREE_A_MINUTE, "someone") for _ in range(5)))
            await result_of(hits, timeout=2.0, message="a limit waited on a Redis that doesn't answer")
        finally:
            redis_server.resume()
    finally:
        await limits.close()
