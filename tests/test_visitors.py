"""A visitor's account and cart, read on every page, are kept while neither changes (on the embedded
store, which this process alone writes), and a change made anywhere shows at the very next page."""

import pytest

from tests.constants import PCI, SHOPPER_EMAIL
from tests.shop_client import cart_count, signed_in_as, text_of


@pytest.mark.gen_test
async def test_an_expired_hold_and_an_ended_session_show_at_the_next_page(shopper, services):
    await shopper.cart_json("add")
    for _ in range(2):
        page = (await shopper.get(f"/books/{PCI}")).text
        assert cart_count(page) == 1 and await signed_in_as(shopper) == SHOPPER_EMAIL

    await services.housekeeping(cart_ttl_seconds=0)  # as the housekeeping of another process would
    page = (await shopper.get(f"/books/{PCI}")).text
    assert cart_count(page) == 0 and "Your hold on one copy" in text_of(page)

    user = await services.db.users.find_one({"email": SHOPPER_EMAIL})
    await services.accounts.end_sessions(user["_id"])  # "sign out everywhere", from another browser
    assert await signed_in_as(shopper) is None
    assert "Sign in" in text_of((await shopper.get(f"/books/{PCI}")).text)


@pytest.mark.gen_test
async def test_the_account_is_read_once_while_unchanged_and_each_caller_gets_its_own(services, reader,
                                                                                     monkeypatch):
    reads = []
    by_session = services.accounts.by_session

    async def counted(*args):
        reads.append(args)
        return await by_session(*args)

    monkeypatch.setattr(services.accounts, "by_session", counted)
    session = (str(reader["_id"]), reader["session_version"])
    user, cart = await services.visitors.find(session, None)
    assert (user["email"], cart) == (SHOPPER_EMAIL, None)
    user["email"] = "changed@example.com"
    again, _ = await services.visitors.find(session, None)
    assert again["email"] == SHOPPER_EMAIL
    assert len(reads) == (1 if services.db.embedded else 2)  # a server may be written by another process

    await services.accounts.end_sessions(reader["_id"])
    assert await services.visitors.find(session, None) == (None, None)
    assert await services.visitors.find((session[0], session[1] + 1), None) != (None, None)


@pytest.mark.gen_test
async def test_a_documents_version_changes_with_every_write_to_it_and_no_other(services):
    if not services.db.embedded:
        assert services.db.versions(("carts", "c1")) is None  # a server's documents are read every time
        return
    carts = services.db.carts
    seen = [services.db.versions(("carts", "c1"), ("carts", "c2"))]
    await carts.insert_one({"_id": "c1", "n": 1})
    await carts.insert_one({"_id": "c2", "n": 1})
    seen.append(services.db.versions(("carts", "c1"), ("carts", "c2")))
    await carts.update_one({"_id": "c1"}, {"$inc": {"n": 1}})
    await carts.update_one({"_id": "nobody"}, {"$inc": {"n": 1}})
    seen.append(services.db.versions(("carts", "c1"), ("carts", "c2")))
    await carts.delete_one({"_id": "c1"})
    seen.append(services.db.versions(("carts", "c1"), ("carts", "c2")))
    await carts.insert_one({"_id": "c1", "n": 2})
    seen.append(services.db.versions(("carts", "c1"), ("carts", "c2")))
    firsts, seconds = zip(*seen, strict=True)
    assert len(set(firsts)) == 4 and firsts[0] == firsts[3]  # gone is gone, whatever it was before
    assert seconds[1] == seconds[2] == seconds[3] == seconds[4] != seconds[0]
