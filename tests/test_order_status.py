"""What staff do with an order (issue 12 builds its pages on these): ready for pickup, collected with the
pickup code, or cancelled with its copies back on sale where every open page sees them. And the migration
that numbers the orders placed before click-and-collect."""

import asyncio

import pytest

from burts_books.infra import migrations
from burts_books.infra.clock import utcnow
from burts_books.infra.errors import Invalid
from burts_books.orders import Contact, OrderStateError
from tests.constants import ADDRESS, PASSWORD, PCI, STAFF_EMAIL
from tests.mail_server import body_of
from tests.store import stock_of
from tests.waiting import result_of, until
from tests.websocket_client import connect, receive, subscribe

BUYER_EMAIL = "buyer@example.com"


@pytest.fixture
def people(services, io_loop):
    """(a buyer, a staff member)"""
    return io_loop.run_sync(lambda: asyncio.gather(
        services.accounts.register(BUYER_EMAIL, PASSWORD),
        services.accounts.register(STAFF_EMAIL, PASSWORD, staff=True),
    ))


async def an_order(services, buyer, copies=2):
    cart = None
    for _ in range(copies):
        cart, _ = await services.carts.add(cart, buyer, PCI, ADDRESS)
    return (await services.orders.place(cart, buyer, Contact("Ada Reader", BUYER_EMAIL))).order


@pytest.mark.gen_test
async def test_an_order_goes_ready_then_collected_with_its_pickup_code(services, people, mail):
    buyer, staff = people
    order = await an_order(services, buyer)

    ready = await services.orders.mark_ready(order, staff)
    assert ready["status"] == "ready_for_pickup"
    await until(lambda: len(mail.to(BUYER_EMAIL)) == 2, message="no mail saying the order is ready")
    assert mail.to(BUYER_EMAIL)[1]["Subject"] == f"Your order {order['number']} is ready for pickup"
    assert order["pickup_code"] in body_of(mail.to(BUYER_EMAIL)[1])

    collected = await services.orders.mark_collected(order, order["pickup_code"], staff)
    assert (collected["status"], collected["payment"]["status"]) == ("collected", "paid")
    assert [(step["status"], step["by"]) for step in collected["history"]] == [
        ("placed", BUYER_EMAIL), ("ready_for_pickup", STAFF_EMAIL), ("collected", STAFF_EMAIL)]
    assert (await stock_of(services))["stock"] == 10  # collected copies stay sold


@pytest.mark.gen_test
async def test_a_wrong_pickup_code_is_refused_and_changes_nothing(services, people):
    buyer, staff = people
    order = await an_order(services, buyer)
    await services.orders.mark_ready(order, staff)
    wrong = "000000" if order["pickup_code"] != "000000" else "111111"
    for code in (wrong, "", None):
        with pytest.raises(Invalid, match="That pickup code is not this order's"):
            await services.orders.mark_collected(order, code, staff)
    stored = await services.orders.by_number(order["number"])
    assert stored["status"] == "ready_for_pickup" and len(stored["history"]) == 2


@pytest.mark.gen_test
async def test_steps_out_of_order_are_refused(services, people):
    buyer, staff = people
    order = await an_order(services, buyer)
    with pytest.raises(OrderStateError, match="is placed: it can't be collected"):
        await services.orders.mark_collected(order, order["pickup_code"], staff)
    await services.orders.mark_ready(order, staff)
    with pytest.raises(OrderStateError, match="is ready for pickup: it can't be marked ready"):
        await services.orders.mark_ready(order, staff)
    await services.orders.mark_collected(order, order["pickup_code"], staff)
    with pytest.raises(OrderStateError, match="is collected: it can't be cancelled"):
        await services.orders.cancel(order, staff)
    assert (await stock_of(services))["stock"] == 10


@pytest.mark.gen_test
async def test_cancelling_puts_the_copies_back_on_sale_where_live_pages_see_them(
        services, people, client, base_url, mail):
    buyer, staff = people
    order = await an_order(services, buyer)
    before = await stock_of(services)
    assert (before["stock"], before["available"]) == (10, 10)
    socket = await connect(base_url)
    subscribe(socket, [PCI])
    assert (await receive(socket))["available"] == 10
    poll = asyncio.ensure_future(client.poll((PCI, before["inventory_version"])))

    cancelled = await services.orders.cancel(order, staff)

    assert (cancelled["status"], cancelled["payment"]["status"]) == ("cancelled", "void")
    assert (await receive(socket))["available"] == 12
    assert (await result_of(poll))[0]["available"] == 12
    after = await stock_of(services)
    assert (after["stock"], after["available"]) == (12, 12)
    await until(lambda: any(m["Subject"] == f"Your order {order['number']} was cancelled" for m in mail.messages),
                message="no mail saying the order was cancelled")
    [said] = [body_of(m) for m in mail.messages if m["Subject"].endswith("was cancelled")]
    assert "nothing is due" in said and "to pay" not in said

    with pytest.raises(OrderStateError, match="is cancelled: it can't be cancelled"):
        await services.orders.cancel(order, staff)  # a second click puts nothing back twice
    assert (await stock_of(services))["stock"] == 12
    socket.close()


@pytest.mark.gen_test
async def test_two_staff_cancelling_at_once_put_the_copies_back_once(services, people):
    buyer, staff = people
    order = await an_order(services, buyer)
    results = await asyncio.gather(services.orders.cancel(order, staff), services.orders.cancel(order, staff),
                                   return_exceptions=True)
    assert sorted(type(result).__name__ for result in results) == ["OrderStateError", "dict"]
    assert (await stock_of(services))["stock"] == 12


@pytest.mark.gen_test
async def test_the_migration_numbers_the_orders_placed_before_click_and_collect(empty_db):
    before, *_ = [name for name in migrations.available() if name.stem.endswith("_click_and_collect")]
    earlier = [path for path in migrations.available() if path.stem < before.stem]
    for path in earlier:
        await migrations._load(path).up(empty_db)
    moment = utcnow()
    old = [{"user_id": None, "email": f"old{n}@example.com", "cart_id": f"cart{n}", "total_cents": 100,
            "lines": [], "created_at": moment.replace(year=2025, month=n)} for n in (3, 1, 2)]
    await empty_db.orders.insert_many(old)

    await migrations._load(before).up(empty_db)
    await migrations._load(before).up(empty_db)  # harmless again

    numbered = await empty_db.orders.find().sort("created_at", 1).to_list(None)
    assert [(order["email"], order["number"], order["status"]) for order in numbered] == [
        ("old1@example.com", "BB-10001", "placed"), ("old2@example.com", "BB-10002", "placed"),
        ("old3@example.com", "BB-10003", "placed")]
    assert all(len(order["pickup_code"]) == 6 for order in numbered)
    unique = [info for info in (await empty_db.orders.index_information()).values() if info.get("unique")]
    assert [info["key"] for info in unique] == [[("number", 1)]]
