"""Long work on the event loop gives requests a turn every slice, and loses or reorders nothing."""

import asyncio
import time

import pytest

from burts_books.infra import slices
from burts_books.infra.slices import in_slices


async def turns_taken(items, work):
    """How many items `in_slices` gave out before each turn a waiting task got."""
    seen, turns = [], []

    async def waiting_request():
        while len(seen) < len(items):
            turns.append(len(seen))
            await asyncio.sleep(0)

    other = asyncio.ensure_future(waiting_request())
    async for item in in_slices(items):
        work()
        seen.append(item)
    await other
    return seen, turns


@pytest.mark.gen_test
async def test_the_thinnest_slice_gives_a_turn_between_any_two_items(monkeypatch):
    monkeypatch.setattr(slices, "SLICE", 0.0)
    items = list(range(50))
    seen, turns = await turns_taken(items, lambda: None)
    assert seen == items
    assert set(range(1, 50)) <= set(turns)  # another task ran after each item but the last


@pytest.mark.gen_test
async def test_quick_items_go_many_to_a_slice_and_slow_ones_one_each(monkeypatch):
    monkeypatch.setattr(slices, "SLICE", 0.05)
    items = list(range(1000))
    seen, turns = await turns_taken(items, lambda: None)
    assert seen == items and len(turns) < 10  # a thousand quick items: a slice or so

    seen, turns = await turns_taken(items[:5], lambda: time.sleep(0.06))  # each longer than a slice
    assert seen == items[:5] and set(range(1, 5)) <= set(turns)
