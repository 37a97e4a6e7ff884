"""The back office in a real browser: the stock table follows shoppers' carts live (by long polling where
WebSockets are blocked), restock says what it did, and a cover chosen from disk shows on the book's page."""

import io
import re

from PIL import Image
from playwright.sync_api import Locator, Page, expect

from tests.browser.helpers import NO_WEBSOCKET, BookPage, register_and_sign_in, sign_in
from tests.browser.test_checkout_journey import place_order
from tests.constants import PCI

SICP = "9780262510875"  # 4 copies in the starter catalog


def open_stock_page(page: Page) -> None:
    page.goto("/")
    sign_in(page)
    page.get_by_role("navigation", name="Your account").get_by_role("link", name="Back office").click()
    expect(page.get_by_role("heading", name="Stock")).to_be_visible()


def a_shopper_adds_while_staff_watch(open_page, staff_script: str | None = None) -> tuple[Page, Locator, BookPage]:
    """The stock page open (with `staff_script` run first in it), a shopper adding a copy, and the
    row following without a reload: (staff page, the book's row, the shopper's book page)."""
    staff = open_page(init_script=staff_script)
    open_stock_page(staff)
    row = staff.locator(f"#stock-{SICP}")
    expect(row.locator(".available")).to_have_text("4")
    staff.evaluate("window.notReloaded = true")

    shopper = BookPage(open_page(), SICP).open()
    shopper.add.click()
    shopper.expect_in_cart(1)
    expect(row.locator(".available")).to_have_text("3")
    expect(row.locator(".held")).to_have_text("1")
    assert staff.evaluate("window.notReloaded === true")
    return staff, row, shopper


def test_the_stock_table_follows_a_shoppers_cart_and_restocks_inline(open_page):
    staff, row, shopper = a_shopper_adds_while_staff_watch(open_page)

    row.get_by_label("Copies of Structure and Interpretation of Computer Programs that arrived").fill("6")
    row.get_by_role("button", name="Restock").click()
    expect(staff.locator(".flash")).to_have_text(
        "Restocked 6 copies of “Structure and Interpretation of Computer Programs”: 9 available now.")
    expect(staff.locator(f"#stock-{SICP} .stock")).to_have_text("10")
    shopper.expect_count("In stock")  # from "Only 3 left": nine on sale is not few


def test_without_websockets_the_stock_table_follows_a_shoppers_cart_by_long_polling(open_page):
    staff, row, shopper = a_shopper_adds_while_staff_watch(open_page, staff_script=NO_WEBSOCKET)
    expect(staff.locator(".live-status")).to_have_text(
        "Structure and Interpretation of Computer Programs: 3 available.")

    shopper.remove.click()
    shopper.expect_in_cart(0)
    expect(row.locator(".available")).to_have_text("4")
    expect(row.locator(".held")).to_have_text("0")
    assert staff.evaluate("window.notReloaded === true")


def expect_row(row: Locator, stock: int, available: int, held: int, sold: int) -> None:
    for column, figure in (("stock", stock), ("available", available), ("held", held), ("sold", sold)):
        expect(row.locator(f".{column}")).to_have_text(str(figure))


def test_the_stock_table_and_the_edit_page_follow_a_sale_and_a_restock_made_elsewhere(open_page):
    staff = open_page()
    open_stock_page(staff)
    row = staff.locator(f"#stock-{PCI}")
    expect_row(row, stock=12, available=12, held=0, sold=0)
    staff.evaluate("window.notReloaded = true")
    editor = open_page()
    open_stock_page(editor)
    editor.goto(f"/edit/{PCI}")
    line = editor.locator(".stock-line")
    expect(line).to_have_text("0 of them held in shoppers' carts; 12 available.")
    editor.evaluate("window.notReloaded = true")

    shopper = open_page()
    register_and_sign_in(shopper)
    book = BookPage(shopper, PCI).open()
    for copies in (1, 2):
        book.add.click()
        book.expect_in_cart(copies)
    expect_row(row, stock=12, available=10, held=2, sold=0)
    expect(line).to_have_text("2 of them held in shoppers' carts; 10 available.")
    shopper.goto("/cart")
    place_order(shopper)
    expect_row(row, stock=10, available=10, held=0, sold=2)
    expect(line).to_have_text("0 of them held in shoppers' carts; 10 available.")
    for page in (staff, editor):
        expect(page.locator(".live-status")).to_have_text(
            "Programming Collective Intelligence: 10 in stock, 10 available.")
    expect(editor.get_by_label("Copies in stock")).to_have_value("12")  # what the editor typed stays theirs

    other_staff = open_page()
    open_stock_page(other_staff)
    other_row = other_staff.locator(f"#stock-{PCI}")
    other_row.get_by_label("Copies of Programming Collective Intelligence that arrived").fill("5")
    other_row.get_by_role("button", name="Restock").click()
    expect(other_staff.locator(".flash")).to_contain_text("Restocked 5 copies")
    expect_row(row, stock=15, available=15, held=0, sold=2)
    assert staff.evaluate("window.notReloaded === true") and editor.evaluate("window.notReloaded === true")


def test_titles_that_change_within_a_moment_are_read_in_one_request(open_page):
    staff = open_page()
    open_stock_page(staff)
    reads: list[str] = []
    staff.on("request", lambda request: reads.append(request.url) if "/api/stock" in request.url else None)

    other_staff = open_page()
    open_stock_page(other_staff)
    statuses = other_staff.evaluate("""async (isbns) => {
        const xsrf = document.querySelector('input[name=_xsrf]').value;
        const restock = (isbn) => fetch('/api/books/' + isbn + '/restock', {
            method: 'POST', body: JSON.stringify({copies: 3}),
            headers: {'Content-Type': 'application/json', 'X-XSRFToken': xsrf}});
        return (await Promise.all(isbns.map(restock))).map((answer) => answer.status);
    }""", [PCI, SICP])
    assert statuses == [200, 200]

    expect_row(staff.locator(f"#stock-{PCI}"), stock=15, available=15, held=0, sold=0)
    expect_row(staff.locator(f"#stock-{SICP}"), stock=7, available=7, held=0, sold=0)
    assert len(reads) == 1, reads
    assert f"isbn={PCI}" in reads[0] and f"isbn={SICP}" in reads[0]


def test_a_cover_chosen_from_disk_shows_on_the_books_page(open_page, tmp_path):
    picture = io.BytesIO()
    Image.new("RGB", (400, 600), (200, 30, 30)).save(picture, "PNG")
    (tmp_path / "cover.png").write_bytes(picture.getvalue())

    staff = open_page()
    staff.goto(f"/books/{SICP}")
    sign_in(staff)
    staff.get_by_role("link", name="Edit").click()
    staff.get_by_label("Upload a cover").set_input_files(str(tmp_path / "cover.png"))
    staff.get_by_role("button", name="Save changes").click()
    expect(staff.locator(".flash")).to_have_text(re.compile("^Saved your changes to"))
    expect(staff.locator(".book-history")).to_contain_text("image:")

    staff.goto(f"/books/{SICP}")
    cover = staff.locator("img.cover")
    expect(cover).to_have_attribute("src", re.compile(r"^/covers/[0-9a-f]{24}-240\.webp$"))
    staff.wait_for_function("document.querySelector('img.cover').complete")
    assert staff.evaluate("document.querySelector('img.cover').naturalWidth") in (240, 400)  # by screen density


STAFF_PAGES = ["/staff/stock", "/staff/users", "/staff/history", f"/edit/{SICP}", "/staff/imports", "/account/tokens"]


def test_the_staff_pages_tables_scroll_in_place_on_a_phone(open_page):
    page = open_page()
    open_stock_page(page)
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto("/account/tokens")
    page.get_by_label("Name").fill("nightly restock")
    page.get_by_role("button", name="Create token").click()  # a table of tokens, with its hidden header
    for path in STAFF_PAGES:
        page.goto(path)
        scrolls = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert scrolls <= 0, f"{path} scrolls sideways by {scrolls} px on a phone"
