"""Click-and-collect from the counter's side, in Chromium: a shopper places an order, it appears on the
staff list while the list is open, staff mark it ready and then collected with the shopper's pickup code,
and the shopper's order page shows each status."""

import re

from playwright.sync_api import Page, expect

from tests.browser.helpers import BookPage, sign_in
from tests.browser.test_checkout_journey import SHOPPER, place_order, register_and_sign_in
from tests.constants import PCI


def expect_flash(page: Page, text: str) -> None:
    expect(page.locator(".flash")).to_have_text(text)


def expect_shopper_sees(page: Page, status: str) -> None:
    page.reload()
    expect(page.locator(".order-status")).to_have_text(status)


def test_staff_see_a_new_order_live_mark_it_ready_then_collected(open_page):
    counter = open_page()
    counter.goto("/")
    sign_in(counter)
    counter.get_by_role("link", name="Back office").click()
    counter.get_by_role("navigation", name="Back office").get_by_role("link", name="Orders").click()
    expect(counter.get_by_role("heading", name="Orders")).to_be_visible()
    expect(counter.get_by_text("No orders yet")).to_be_visible()
    counter.evaluate("window.notReloaded = true")

    shopper = open_page()
    register_and_sign_in(shopper)
    book = BookPage(shopper, PCI).open()
    book.add.click()
    book.expect_in_cart(1)
    book.add.click()
    book.expect_in_cart(2)
    shopper.goto("/cart")
    number = place_order(shopper)
    code = shopper.locator(".pickup-code").inner_text()

    row = counter.locator(f"#order-{number}")
    expect(row).to_contain_text(f"Ada Reader {SHOPPER} 2 $79.98 Placed")
    expect(counter.locator("#orders-news")).to_have_text("A new order arrived.")
    assert counter.evaluate("window.notReloaded === true"), "the list reloaded the page instead of updating"

    row.get_by_role("link", name=number).click()
    expect(counter.get_by_role("heading", name=f"Order {number}")).to_be_visible()
    expect(counter.locator(".pickup-code")).to_have_text(code)
    counter.get_by_role("button", name="Mark ready for pickup").click()
    expect_flash(counter, f"Order {number} marked ready for pickup; {SHOPPER} was told by mail.")
    expect(counter.locator(".order-status")).to_have_text("Ready for pickup")
    expect_shopper_sees(shopper, "Ready for pickup")

    wrong = "000000" if code != "000000" else "111111"
    counter.get_by_label("Pickup code the shopper shows").fill(wrong)
    counter.get_by_role("button", name="Mark collected").click()
    expect(counter.locator("#e-pickup-code")).to_contain_text("That pickup code is not this order's")
    expect(counter.locator(".order-status")).to_have_text("Ready for pickup")
    expect_shopper_sees(shopper, "Ready for pickup")

    counter.get_by_label("Pickup code the shopper shows").fill(code)
    counter.get_by_role("button", name="Mark collected").click()
    expect_flash(counter, f"Order {number} marked collected and paid.")
    expect(counter.locator(".order-status")).to_have_text("Collected")
    expect_shopper_sees(shopper, "Collected")

    counter.get_by_role("link", name="All orders").click()
    expect(counter.locator(f"#order-{number}")).to_contain_text("Collected")
    counter.get_by_label("Status").select_option("placed")
    counter.get_by_role("button", name="Show orders").click()
    expect(counter).to_have_url(re.compile(r"status=placed"))
    expect(counter.get_by_text("No orders match")).to_be_visible()


def test_the_keyboard_keeps_its_place_on_the_orders_list_as_orders_arrive(open_page):
    counter = open_page()
    counter.goto("/")
    sign_in(counter)
    shopper = open_page()
    register_and_sign_in(shopper)
    numbers = []
    for _ in range(2):
        book = BookPage(shopper, PCI).open()
        for copies in (1, 2):  # the order place_order reviews
            book.add.click()
            book.expect_in_cart(copies)
        shopper.goto("/cart")
        numbers.append(place_order(shopper))
        if len(numbers) == 1:
            counter.goto("/staff/orders")
            counter.get_by_role("link", name=numbers[0]).focus()
    expect(counter.locator(f"#order-{numbers[1]}")).to_be_visible()  # the list followed
    expect(counter.get_by_role("link", name=numbers[0])).to_be_focused()
