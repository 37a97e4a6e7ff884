"""What a person does in the shop, in steps the tests share."""

from playwright.sync_api import Page, expect

from tests.constants import PASSWORD, STAFF_EMAIL

SHOPPER = "ada@example.com"
# An init script for a browser where WebSockets can't connect: the live feed must long poll.
NO_WEBSOCKET = "delete window.WebSocket"


def sign_in(page: Page, email: str = STAFF_EMAIL, password: str = PASSWORD) -> None:
    """Sign in from the header link of whatever page is open, and come back to it."""
    page.get_by_role("link", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#header .who")).to_have_text(f"{email} (staff)" if email == STAFF_EMAIL else email)


def register_and_sign_in(page: Page) -> None:
    """Make a shopper's account on the register page and sign in with it."""
    page.goto("/register")
    page.get_by_label("Email").fill(SHOPPER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#header .who")).to_have_text(SHOPPER)


class BookPage:
    """A book's page as a shopper sees it: the stock line and the cart buttons."""

    def __init__(self, page: Page, isbn: str):
        self.page = page
        self.isbn = isbn
        stock = page.locator("#stock")
        self.count = stock.locator(".count")
        self.add = stock.get_by_role("button", name="Add to Cart")
        self.remove = stock.get_by_role("button", name="Remove from Cart")
        self.in_cart = stock.locator(".in-cart-text")
        self.message = stock.get_by_role("status")

    def open(self) -> "BookPage":
        self.page.goto(f"/books/{self.isbn}")
        # A marker that a reload would wipe: changes must arrive without one.
        self.page.evaluate("window.notReloaded = true")
        return self

    def was_not_reloaded(self) -> bool:
        return self.page.evaluate("window.notReloaded === true")

    def expect_count(self, text: str) -> None:
        expect(self.count).to_have_text(text)

    def expect_in_cart(self, copies: int) -> None:
        """What the page says about this book in the shopper's cart, and whether Remove is offered."""
        if copies == 0:
            expect(self.in_cart).to_be_hidden()
            expect(self.remove).to_be_hidden()
            return
        expect(self.in_cart).to_be_visible()
        expect(self.in_cart).to_have_text(
            "One copy is in your cart" if copies == 1 else f"{copies} copies are in your cart"
        )
        expect(self.remove).to_be_visible()
