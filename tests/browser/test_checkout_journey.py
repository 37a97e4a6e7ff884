"""A shopper's whole way through the shop in Chromium: add, cart, change the quantity, check out,
the confirmation, the order history; and a hold that ends while the page is open."""

import re

import pytest
from playwright.sync_api import Page, expect

from burts_books.carts import LAPSED_MESSAGE
from tests.browser.helpers import SHOPPER, BookPage, register_and_sign_in
from tests.constants import PCI

TITLE = "Programming Collective Intelligence"


def expect_row(page: Page, text: str) -> None:
    """A table row that reads `text`, cell after cell."""
    expect(page.get_by_role("row", name=text, exact=True)).to_be_visible()


def expect_badge(page: Page, copies: int, total: str) -> None:
    """The header's cart, as the cart page's changes left it."""
    expect(page.locator(".cart-link .cart-count")).to_have_text(str(copies))
    expect(page.locator(".cart-link .cart-total")).to_have_text(total)


def place_order(page: Page) -> str:
    """From the cart page: review, give a name and phone, place the order; returns its number."""
    page.get_by_role("link", name="Checkout").click()
    expect(page.get_by_role("heading", name="Check out")).to_be_visible()
    expect_row(page, f"{TITLE} 2 $79.98")
    expect(page.get_by_label("Email")).to_have_value(SHOPPER)
    page.get_by_label("Your name").fill("Ada Reader")
    page.get_by_label("Phone (optional)").fill("555 555 0100")
    page.get_by_role("button", name="Place order").click()

    heading = page.get_by_role("heading", name=re.compile(r"^Order BB-\d{5}$"))
    expect(heading).to_be_visible()
    expect(page.get_by_text("Thank you for your order")).to_be_visible()
    expect(page.locator(".pickup-code")).to_have_text(re.compile(r"^\d{6}$"))
    expect(page.locator(".order-status")).to_have_text("Placed")
    return heading.inner_text().removeprefix("Order ")


def see_it_in_the_history(page: Page, number: str) -> None:
    page.get_by_role("link", name="All your orders").click()
    row = page.locator(".orders tbody tr").filter(has_text=number)
    expect(row).to_contain_text(f"2 \u00d7 {TITLE}")
    expect(row).to_contain_text("$79.98")
    expect(row).to_contain_text("Placed")
    expect(row).to_contain_text(re.compile(r"\d{1,2} [A-Z][a-z]{2} 20\d\d, \d\d:\d\d"))


def test_add_change_the_quantity_check_out_and_find_the_order(page: Page):
    register_and_sign_in(page)
    book = BookPage(page, PCI).open()
    book.add.click()
    book.expect_in_cart(1)

    page.locator("#header").get_by_role("link", name=re.compile(r"^Cart\b")).click()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(page.get_by_role("link", name=TITLE)).to_have_attribute("href", f"/books/{PCI}")
    expect(page.locator(".cart-cover")).to_be_visible()
    expect(page.get_by_role("button", name="Update")).to_be_hidden()  # the choice applies at once
    page.get_by_label(f"Copies of {TITLE}").select_option("3")
    expect_row(page, "Subtotal, 3 copies $119.97")
    expect_badge(page, 3, "$119.97")

    page.get_by_role("button", name="Remove one").click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect_row(page, "Subtotal, 2 copies $79.98")
    expect_badge(page, 2, "$79.98")
    expect(page.get_by_role("link", name="Continue shopping")).to_have_attribute("href", "/books/")

    number = place_order(page)
    see_it_in_the_history(page, number)


def test_the_same_journey_without_javascript(open_page):
    page = open_page(javascript=False)
    register_and_sign_in(page)
    page.goto(f"/books/{PCI}")
    page.get_by_role("button", name="Add to Cart").click()
    expect(page.locator("#stock .in-cart-text")).to_have_text("One copy is in your cart")

    page.goto("/cart")
    page.get_by_label(f"Copies of {TITLE}").select_option("2")
    page.get_by_role("button", name="Update").click()
    expect_row(page, "Subtotal, 2 copies $79.98")
    expect_badge(page, 2, "$79.98")

    number = place_order(page)
    see_it_in_the_history(page, number)


@pytest.mark.shop_flags("--anonymous-cart-ttl-seconds=4", "--reconcile-interval-seconds=0.5")
def test_a_hold_about_to_end_is_announced_and_an_ended_one_explained(page: Page):
    book = BookPage(page, PCI).open()
    book.add.click()
    book.expect_in_cart(1)
    page.goto("/cart")
    warning = page.get_by_text(re.compile(r"Your hold ends soon, at \d\d:\d\d"))
    expect(warning).to_be_visible()  # a second before the end

    expect(page.get_by_role("alert").filter(has_text="expired")).to_have_count(0)
    book.open()
    page.wait_for_timeout(5500)  # the hold ends, and the shop's next sweep puts the copy back on sale
    book.remove.click()  # on the page from before: it says what happened instead of "not in your cart"
    expect(book.message).to_have_text(LAPSED_MESSAGE)
    book.expect_in_cart(0)

    book.open()
    notice = page.locator(".hold-expired")
    expect(notice).to_contain_text(re.compile(
        rf"Your hold on one copy of {TITLE} expired at \d\d:\d\d; the copies went back on sale\."))
    book.expect_in_cart(0)

    notice.get_by_role("button", name="Add it to your cart again").click()
    book.expect_in_cart(1)
    expect(page.locator(".hold-expired")).to_have_count(0)
