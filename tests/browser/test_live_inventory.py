"""Live inventory as shoppers see it: two people on the same book page, no reloads.

Each test blinds one channel on purpose, so the one under test is the only
way a change can reach the page: long polls aborted for the WebSocket test,
WebSocket removed for the long-polling test.
"""

import re

from playwright.sync_api import Page, expect

from tests.browser.helpers import NO_WEBSOCKET, BookPage, sign_in

SICP = "9780262510875"  # Structure and Interpretation of Computer Programs: 4 copies in the starter catalog
LONG_POLL = re.compile(r"/cart/status\?")


def block_long_polling(page: Page) -> None:
    page.route(LONG_POLL, lambda route: route.abort())


def add_copies(book: BookPage, copies: int) -> None:
    for held in range(1, copies + 1):
        book.add.click()
        book.expect_in_cart(held)


def test_a_copy_one_shopper_adds_is_counted_down_live_for_another(open_page):
    alice = BookPage(open_page(), SICP).open()
    bob_page = open_page()
    block_long_polling(bob_page)
    bob = BookPage(bob_page, SICP).open()
    bob.expect_count("Only 4 left")
    alice.expect_in_cart(0)

    alice.add.click()
    alice.expect_in_cart(1)
    alice.expect_count("Only 3 left")
    bob.expect_count("Only 3 left")

    alice.remove.click()
    alice.expect_in_cart(0)
    alice.expect_count("Only 4 left")
    bob.expect_count("Only 4 left")
    bob.expect_in_cart(0)
    assert alice.was_not_reloaded() and bob.was_not_reloaded()


def test_without_websockets_long_polling_carries_the_changes(open_page):
    alice = BookPage(open_page(), SICP).open()
    bob = BookPage(open_page(init_script=NO_WEBSOCKET), SICP).open()
    bob.expect_count("Only 4 left")

    add_copies(alice, 2)
    bob.expect_count("Only 2 left")

    alice.remove.click()
    alice.expect_in_cart(1)
    bob.expect_count("Only 3 left")
    assert bob.was_not_reloaded()


def test_restock_and_the_last_copy_show_live_on_another_shoppers_page(open_page):
    bob = BookPage(open_page(), SICP).open()
    alice = BookPage(open_page(), SICP).open()

    staff = open_page()
    staff.goto(f"/books/{SICP}")
    sign_in(staff)
    staff.get_by_role("link", name="Edit").click()
    staff.get_by_label(re.compile(r"^Copies in stock")).fill("1")
    staff.get_by_role("button", name="Save changes").click()
    expect(staff.get_by_role("status")).to_have_text(re.compile("^Saved your changes to"))
    bob.expect_count("Only 1 left")

    alice.add.click()
    alice.expect_in_cart(1)
    alice.expect_count("Sold out")
    bob.expect_count("Sold out")
    expect(bob.add).to_be_disabled()
    expect(alice.add).to_be_disabled()
    expect(alice.remove).to_be_enabled()

    alice.remove.click()
    bob.expect_count("Only 1 left")
    expect(bob.add).to_be_enabled()
    assert bob.was_not_reloaded()


def test_a_shopper_who_loses_the_race_for_the_last_copy_is_told_it_is_sold_out(open_page):
    # Bob's page hears nothing, so it still offers the copies Alice takes.
    bob_page = open_page(init_script=NO_WEBSOCKET)
    block_long_polling(bob_page)
    bob = BookPage(bob_page, SICP).open()
    alice = BookPage(open_page(), SICP).open()

    add_copies(alice, 4)
    alice.expect_count("Sold out")
    bob.expect_count("Only 4 left")

    bob.add.click()
    expect(bob.message).to_have_text(re.compile(r"sold out", re.IGNORECASE))
    bob.expect_count("Sold out")
    expect(bob.add).to_be_disabled()
    bob.expect_in_cart(0)
    expect(bob_page).to_have_url(re.compile(rf"/books/{SICP}$"))
    expect(bob_page.get_by_role("heading", name="Structure and Interpretation of Computer Programs")).to_be_visible()
    assert bob.was_not_reloaded()


def test_after_a_server_restart_the_page_reconnects_and_keeps_updating(open_page, shop):
    bob_page = open_page()
    block_long_polling(bob_page)
    bob = BookPage(bob_page, SICP).open()
    alice = BookPage(open_page(), SICP).open()
    alice.add.click()
    alice.expect_in_cart(1)
    bob.expect_count("Only 3 left")  # Bob's page is live before the restart

    shop.restart()
    alice.remove.click()
    alice.expect_in_cart(0)

    bob.expect_count("Only 4 left")
    assert bob.was_not_reloaded()


def test_without_javascript_the_cart_form_still_works(open_page):
    page = open_page(javascript=False)
    book = BookPage(page, SICP)
    page.goto(f"/books/{SICP}")

    book.add.click()
    expect(page).to_have_url(re.compile(rf"/books/{SICP}$"))
    book.expect_in_cart(1)
    book.expect_count("Only 3 left")

    book.remove.click()
    book.expect_in_cart(0)
    book.expect_count("Only 4 left")
