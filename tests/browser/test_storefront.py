"""The storefront as a shopper meets it in Chromium, on a laptop and on a phone: browsing, searching,
adding from a listing with the header's cart following, and pages that fit, can be tapped and
that axe-core finds nothing wrong with. Screenshots of the main pages land in SCREENSHOTS."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import axe
from tests.browser.helpers import BookPage, register_and_sign_in, sign_in
from tests.constants import PCI

SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
SICP = "9780262510875"  # 4 copies in the starter catalog: "Only 4 left"
SHOPPER_PAGES = {
    "home": "/",
    "catalog": "/books/",
    "search": "/books/?q=python",
    "did-you-mean": "/books/?q=pyhton",
    "recommended": "/recommended/",
    "book": f"/books/{PCI}",
    "low-stock-book": f"/books/{SICP}",
    "cart": "/cart",
    "sign-in": "/login",
    "register": "/register",
    "not-found": "/no/such/page",
}
MIN_TARGET_PX = 24

# Every control a finger may need, with its size; links inside a sentence are exempt (WCAG 2.5.8).
TARGETS = """() => Array.from(document.querySelectorAll('a, button, input:not([type=hidden]), select, summary'))
  .filter(el => el.checkVisibility({visibilityProperty: true}))
  .filter(el => !el.closest('.visually-hidden') && !el.classList.contains('skip-link'))
  .filter(el => !(el.tagName === 'A' && getComputedStyle(el).display === 'inline'
                  && el.parentElement.textContent.trim() !== el.textContent.trim()))
  .map(el => { const r = el.getBoundingClientRect();
               return [el.outerHTML.slice(0, 80), Math.round(r.width), Math.round(r.height)]; })"""


@pytest.fixture(params=SIZES)
def screen(request, open_page) -> tuple[str, Page]:
    page = open_page()
    page.set_viewport_size(SIZES[request.param])
    return request.param, page


def scrolls_sideways(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth")


def small_targets(page: Page) -> list:
    return [target for target in page.evaluate(TARGETS) if min(target[1], target[2]) < MIN_TARGET_PX]


def problems_of(page: Page, axe_source: str) -> list[str]:
    """What is wrong with the page as it is now: sideways scrolling, small targets, axe's findings, h1s."""
    problems = [f"{page.url}: {found}" for found in axe.violations(page, axe_source)]
    if scrolls_sideways(page):
        problems.append(f"{page.url} scrolls sideways")
    problems += [f"{page.url}: target under {MIN_TARGET_PX} px: {target}" for target in small_targets(page)]
    if page.locator("h1").count() != 1:
        problems.append(f"{page.url} has {page.locator('h1').count()} <h1>")
    return problems


def test_every_shopper_page_fits_can_be_tapped_and_passes_axe(screen, axe_source, screenshots):
    size, page = screen
    problems = []
    for name, path in SHOPPER_PAGES.items():
        page.goto(path)
        problems += problems_of(page, axe_source)
        page.screenshot(path=screenshots / f"{name}-{size}.png", full_page=True)
    if size == "phone":
        page.goto("/")
        page.locator(".menu > summary").click()
        expect(page.get_by_role("link", name="Recommended Reading", exact=True)).to_be_visible()
        problems += problems_of(page, axe_source)
        page.screenshot(path=screenshots / f"menu-open-{size}.png")
    assert problems == []


def test_every_step_of_a_shoppers_way_fits_can_be_tapped_and_passes_axe(screen, open_page, axe_source, screenshots):
    """The pages behind a sign-in or a cart, in the states a shopper meets them in."""
    size, page = screen
    problems: list[str] = []

    def check(name: str) -> None:
        problems.extend(problems_of(page, axe_source))
        page.screenshot(path=screenshots / f"{name}-{size}.png", full_page=True)

    other = BookPage(open_page(), SICP).open()  # another shopper takes the last copies
    for held in range(1, 5):
        other.add.click()
        other.expect_in_cart(held)
    page.goto(f"/books/{SICP}")
    expect(page.get_by_role("button", name="Notify me")).to_be_visible()
    check("sold-out-book")
    page.get_by_label("Email me once when it's back in stock").fill("reader@example.com")
    page.get_by_role("button", name="Notify me").click()
    expect(page.get_by_text("reader@example.com")).to_be_visible()
    check("notify-me-sent")

    page.goto("/login")
    page.get_by_label("Email").fill("reader@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check("sign-in-refused")

    register_and_sign_in(page)
    page.goto("/account")
    check("account")
    book = BookPage(page, PCI).open()
    book.add.click()
    book.expect_in_cart(1)
    page.goto("/cart")
    check("cart-with-items")
    page.get_by_role("link", name="Checkout").click()
    expect(page.get_by_role("heading", name="Check out")).to_be_visible()
    check("checkout-review")
    page.get_by_label("Your name").fill("Ada Reader")
    page.get_by_role("button", name="Place order").click()
    heading = page.get_by_role("heading", name=re.compile(r"^Order BB-\d{5}$"))
    expect(heading).to_be_visible()
    check("order-confirmation")
    number = heading.inner_text().removeprefix("Order ")
    page.goto("/orders")
    check("order-history")
    page.get_by_role("link", name=number).click()
    expect(heading).to_be_visible()
    check("order")
    assert problems == [], "\n".join(problems)


def test_the_phone_header_is_compact_and_add_to_cart_is_in_sight(open_page):
    page = open_page()
    page.set_viewport_size(SIZES["phone"])
    page.goto(f"/books/{PCI}")
    header = page.locator("#header").bounding_box()
    assert header is not None and header["height"] <= 130
    # The menu folds away; the cart and the search stay in sight.
    expect(page.get_by_role("link", name="Recommended Reading", exact=True)).to_be_hidden()
    expect(page.locator(".cart-link")).to_be_visible()
    expect(page.get_by_role("searchbox")).to_be_visible()
    page.locator(".menu > summary").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()


def test_the_menu_works_without_javascript(open_page):
    page = open_page(javascript=False)
    page.set_viewport_size(SIZES["phone"])
    page.goto("/")
    expect(page.get_by_role("link", name="Catalog", exact=True)).to_be_hidden()
    page.locator(".menu > summary").click()
    page.get_by_role("link", name="Catalog", exact=True).click()
    expect(page.get_by_role("heading", name="Our catalog")).to_be_visible()


@pytest.mark.parametrize("size", SIZES)
def test_browse_search_and_add_from_a_listing_with_the_header_following(open_page, axe_source, size):
    page = open_page()
    page.set_viewport_size(SIZES[size])
    page.goto("/")
    page.get_by_role("link", name="Browse the catalog").click()
    expect(page.get_by_role("heading", name="Our catalog")).to_be_visible()

    page.get_by_role("searchbox").fill("pyhton")
    page.get_by_role("searchbox").press("Enter")
    expect(page.get_by_text("Did you mean")).to_be_visible()
    card = page.locator(".book-card", has=page.get_by_role("heading", name="Fluent Python"))
    expect(card.locator(".count")).to_have_text("In stock")
    expect(page.locator(".cart-link")).to_contain_text("0")

    add = card.get_by_role("button", name="Add to Cart")
    add.click()
    expect(page.locator(".cart-count")).to_have_text("1")
    expect(page.locator(".cart-total")).to_have_text("$49.99")
    prompt = card.get_by_role("link", name="View cart / Checkout")
    expect(prompt).to_be_visible()
    expect(add).to_be_focused()  # the shopper's place is kept
    assert problems_of(page, axe_source) == []

    add.click()
    expect(page.locator(".cart-count")).to_have_text("2")
    expect(page.locator(".cart-total")).to_have_text("$99.98")
    prompt.click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(page.locator(".cart-count")).to_have_text("2")


def test_a_listing_follows_stock_live_down_to_sold_out(open_page):
    shopper = open_page()
    shopper.goto(f"/books/?q={SICP}")  # its ISBN: this one book
    card = shopper.locator(".book-card")
    expect(card.locator(".count")).to_have_text("Only 4 left")
    other = BookPage(open_page(), SICP).open()
    other.add.click()
    other.expect_in_cart(1)
    expect(card.locator(".count")).to_have_text("Only 3 left")
    for held in (2, 3, 4):
        other.add.click()
        other.expect_in_cart(held)
    expect(card.locator(".count")).to_have_text("Sold out")
    expect(card.get_by_role("button", name="Add to Cart")).to_be_disabled()


def test_on_a_book_page_focus_stays_and_the_badge_follows_adds_and_removes(page):
    book = BookPage(page, SICP).open()
    book.add.focus()
    page.keyboard.press("Enter")
    book.expect_in_cart(1)
    expect(book.add).to_be_focused()
    expect(page.locator(".cart-count")).to_have_text("1")
    expect(page.locator(".cart-total")).to_have_text("$55.00")
    expect(page.locator("#stock").get_by_role("link", name="View cart / Checkout").first).to_be_visible()
    book.remove.focus()
    page.keyboard.press("Enter")
    book.expect_in_cart(0)
    expect(book.add).to_be_focused()  # Remove is gone: focus moves to the button beside it
    expect(page.locator(".cart-count")).to_have_text("0")
    assert book.was_not_reloaded()


def test_the_badge_and_stock_lines_follow_the_cart_changed_in_another_tab(page):
    listing = page
    listing.goto(f"/books/?q={SICP}")
    listing.evaluate("window.notReloaded = true")
    book = BookPage(page.context.new_page(), PCI).open()  # the same shopper's second tab
    other = BookPage(page.context.new_page(), SICP).open()
    book.add.click()
    book.expect_in_cart(1)
    for tab in (listing, other.page):
        expect(tab.locator(".cart-count")).to_have_text("1")
        expect(tab.locator(".cart-total")).to_have_text("$39.99")
    other.add.click()
    other.expect_in_cart(1)
    expect(listing.locator(".cart-total")).to_have_text("$94.99")
    book.page.goto("/cart")
    book.page.get_by_label("Copies of Programming Collective Intelligence").select_option("3")
    expect(book.page.locator(".cart-count")).to_have_text("4")
    for tab in (listing, other.page):
        expect(tab.locator(".cart-count")).to_have_text("4")
        expect(tab.locator(".cart-total")).to_have_text("$174.97")
    other.expect_in_cart(1)
    assert listing.evaluate("window.notReloaded === true") and other.was_not_reloaded()


def test_a_book_page_follows_its_copies_taken_out_of_the_cart_in_another_tab(page):
    book = BookPage(page, PCI).open()
    book.add.click()
    book.expect_in_cart(1)
    cart = page.context.new_page()  # the same shopper's second tab
    cart.goto("/cart")
    cart.get_by_label("Copies of Programming Collective Intelligence").select_option("0")
    expect(cart.locator(".cart-count")).to_have_text("0")
    expect(page.locator(".cart-count")).to_have_text("0")
    book.expect_in_cart(0)  # no Remove left to press for a copy that is gone
    assert book.was_not_reloaded()


def test_a_book_sold_out_under_the_shoppers_focus_keeps_their_place_and_says_so(open_page):
    book = BookPage(open_page(), SICP).open()
    book.add.focus()
    book.page.keyboard.press("Enter")  # one copy for them ("Added to your cart."), focus still on Add
    book.expect_in_cart(1)
    other = BookPage(open_page(), SICP).open()  # another shopper takes the last copies
    for held in (1, 2, 3):
        other.add.click()
        other.expect_in_cart(held)
    book.expect_count("Sold out")
    expect(book.message).to_be_focused()
    expect(book.message).to_have_text("Sorry — that was the last copy; it's sold out now.")


def test_the_keyboard_steps_through_a_carts_copies_and_updates_when_asked(page):
    book = BookPage(page, PCI).open()
    book.add.click()
    book.expect_in_cart(1)
    page.goto("/cart")
    page.evaluate("window.notReloaded = true")
    copies = page.get_by_label("Copies of Programming Collective Intelligence")
    copies.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(copies).to_be_focused()
    expect(copies).to_have_value("3")
    assert page.evaluate("window.notReloaded === true")  # nothing sent yet
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # on Update, which the keyboard brought into view
    expect(page.locator(".cart-count")).to_have_text("3")
    expect(page.locator(".cart-link")).to_have_accessible_name("Cart 3 copies, $119.97")


def test_the_header_says_one_copy_not_one_copies(page):
    book = BookPage(page, SICP).open()
    expect(page.locator(".cart-link")).to_have_accessible_name("Cart 0 copies, $0.00")
    book.add.click()
    expect(page.locator(".cart-link")).to_have_accessible_name("Cart 1 copy, $55.00")
    page.reload()
    expect(page.locator(".cart-link")).to_have_accessible_name("Cart 1 copy, $55.00")


# Where each listing's Add to Cart leads back to: the same books, page and order.
LISTING_RETURNS = {"/": "/", "/books/": "/books/?page=1", "/books/?q=python&sort=price&page=1": None,
                   "/recommended/": "/recommended/"}


@pytest.mark.parametrize("listing", LISTING_RETURNS)
def test_without_javascript_add_to_cart_on_a_listing_comes_back_to_it(open_page, shop, listing):
    page = open_page(javascript=False)
    page.goto(listing)
    page.locator(".offer").first.get_by_role("button", name="Add to Cart").click()
    expect(page.locator(".cart-count")).to_have_text("1")
    expect(page).to_have_url(shop.url + (LISTING_RETURNS[listing] or listing))  # not the book's page


def test_staff_sign_in_from_the_folded_menu_on_a_phone(open_page):
    page = open_page()
    page.set_viewport_size(SIZES["phone"])
    page.goto("/")
    page.locator(".menu > summary").click()
    sign_in(page)
    page.locator(".menu > summary").click()
    expect(page.get_by_role("link", name="Add a book")).to_be_visible()
