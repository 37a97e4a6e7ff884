"""Interleavings of checkout, reconciliation and cart changes that used to oversell."""

import pytest

from burts_books.carts import SoldOut
from burts_books.orders import Contact
from tests.constants import ADDRESS, PASSWORD, PCI
from tests.shop_client import form_values, text_of
from tests.store import set_stock, stock_of

BUYER = Contact("Ada Reader", "buyer@example.com")


@pytest.mark.gen_test
async def test_reconcile_skips_a_book_a_checkout_shipped_after_it_was_read(services):
    cart, _ = await services.carts.add(None, None, PCI, ADDRESS)
    cart, _ = await services.carts.add(cart, None, PCI, ADDRESS)
    assert await stock_of(services) == {"stock": 12, "available": 10, "inventory_version": 3}

    async def held_copies_while_a_checkout_ships():
        # Reconcile has read the books; now a checkout whose claim is older than
        # GRACE ships its copies (less stock, a new version), and the
        # ordered cart no longer counts as held nor as busy.
        assert await services.carts.claim_for_order(cart)
        assert await services.inventory.ship(PCI, 2)
        return {}, set()

    await services.inventory.reconcile(held_copies_while_a_checkout_ships)
    book = await stock_of(services)
    assert (book["stock"], book["available"]) == (10, 10)  # not 12 available of 10 on hand

    # The next run sees the shipped stock and has nothing to repair.
    assert await services.inventory.reconcile(services.carts.held_copies) == []


async def sell(services, copies):
    user = await services.accounts.register("buyer@example.com", PASSWORD)
    cart = None
    for _ in range(copies):
        cart, _ = await services.carts.add(cart, user, PCI, ADDRESS)
    await services.orders.place(cart, user, Contact("Ada Reader", user["email"]))


@pytest.mark.gen_test
async def test_saving_an_edit_form_does_not_undo_sales_made_while_it_was_open(staff, services):
    form = form_values((await staff.get(f"/edit/{PCI}")).text)
    assert form["stock"] == "12"
    await sell(services, 2)

    response = await staff.post(f"/edit/{PCI}", {**form, "title": "Renamed"})

    assert response.code == 303
    book = await services.db.books.find_one({"isbn": PCI})
    assert (book["title"], book["stock"], book["available"]) == ("Renamed", 10, 10)


@pytest.mark.gen_test
async def test_a_stock_typed_over_a_stale_count_is_refused_then_applied_on_saving_again(staff, services):
    form = form_values((await staff.get(f"/edit/{PCI}")).text)
    await sell(services, 2)

    response = await staff.post(f"/edit/{PCI}", {**form, "stock": "20"})
    assert response.code == 400
    assert "Stock changed to 10 while you were editing" in text_of(response.text)
    assert (await stock_of(services))["stock"] == 10

    response = await staff.post(f"/edit/{PCI}", form_values(response.text))
    assert response.code == 303
    book = await stock_of(services)
    assert (book["stock"], book["available"]) == (20, 20)


@pytest.mark.gen_test
async def test_a_checkout_during_a_sold_out_add_orders_only_copies_taken(services, monkeypatch):
    await set_stock(services, 2)
    buyer = await services.accounts.register("buyer@example.com", PASSWORD)
    other = await services.accounts.register("other@example.com", PASSWORD)
    cart, _ = await services.carts.add(None, buyer, PCI, ADDRESS)
    other_cart, _ = await services.carts.add(None, other, PCI, ADDRESS)
    assert (await stock_of(services))["available"] == 0

    take = services.inventory.take

    async def take_after_a_checkout_from_another_tab(isbn, copies=1):
        # The buyer's second tab checks out between the cart write and the book write.
        await services.orders.place(await services.carts.find(cart.id, buyer), buyer, BUYER)
        return await take(isbn, copies)

    monkeypatch.setattr(services.inventory, "take", take_after_a_checkout_from_another_tab)
    with pytest.raises(SoldOut):
        await services.carts.add(cart, buyer, PCI, ADDRESS)
    monkeypatch.undo()

    order = await services.db.orders.find_one({"user_id": buyer["_id"]})
    assert [(line["isbn"], line["quantity"]) for line in order["lines"]] == [(PCI, 1)]
    # The other shopper's copy is still on hand, and their checkout gets it.
    assert (await stock_of(services))["stock"] == 1
    other_order = (await services.orders.place(other_cart, other, Contact("Other", other["email"]))).order
    assert [(line["isbn"], line["quantity"]) for line in other_order["lines"]] == [(PCI, 1)]
    book = await stock_of(services)
    assert (book["stock"], book["available"]) == (0, 0)


@pytest.mark.gen_test
async def test_a_copy_taken_for_a_cart_checked_out_meanwhile_goes_to_a_new_cart(services, monkeypatch):
    buyer = await services.accounts.register("buyer@example.com", PASSWORD)
    cart, _ = await services.carts.add(None, buyer, PCI, ADDRESS)
    take = services.inventory.take

    async def take_after_a_checkout_from_another_tab(isbn, copies=1):
        if await services.carts.find(cart.id, buyer):  # the first take only
            await services.orders.place(await services.carts.find(cart.id, buyer), buyer, BUYER)
        return await take(isbn, copies)

    monkeypatch.setattr(services.inventory, "take", take_after_a_checkout_from_another_tab)
    new_cart, _ = await services.carts.add(cart, buyer, PCI, ADDRESS)
    monkeypatch.undo()

    assert new_cart.id != cart.id and new_cart.holds == {PCI: 1}
    order = await services.db.orders.find_one({"user_id": buyer["_id"]})
    assert [(line["isbn"], line["quantity"]) for line in order["lines"]] == [(PCI, 1)]
    book = await stock_of(services)
    assert (book["stock"], book["available"]) == (11, 10)  # one shipped, one in the new cart
    assert await services.inventory.reconcile(services.carts.held_copies) == []
