"""Staff add a book through the site, as a person would, and shoppers see it recommended."""

import re

from playwright.sync_api import Page, expect

from tests.browser.helpers import sign_in
from tests.constants import PASSWORD, STAFF_EMAIL

EFFECTIVE_JAVA = {
    "ISBN": "9780134685991",
    "Title": "Effective Java",
    "Author": "Joshua Bloch",
    "Description": "Best practices for the Java platform, updated for Java 9.",
    "Price ($)": "44.99",
    "Copies in stock": "3",
}


def open_add_form(page: Page) -> None:
    page.goto("/")
    sign_in(page)
    page.get_by_role("navigation", name="Your account").get_by_role("link", name="Add a book").click()
    expect(page.get_by_role("heading", name="Add a book")).to_be_visible()


def field(page: Page, label: str):
    """A form field by its whole label; required fields' labels end in "*"."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$"))


def fill_book_form(page: Page, fields: dict) -> None:
    for label, value in fields.items():
        field(page, label).fill(value)


def recommended_entry(page: Page, title: str):
    return page.locator("article").filter(has=page.get_by_role("heading", name=title, exact=True))


def test_staff_adds_a_book_and_it_is_recommended(page: Page):
    open_add_form(page)
    fill_book_form(page, EFFECTIVE_JAVA)
    page.get_by_role("button", name="Add book").click()

    expect(page).to_have_url(re.compile(r"/edit/9780134685991$"))
    expect(page.get_by_role("status")).to_have_text("Added “Effective Java” with 3 copies in stock.")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Recommended Reading").click()
    expect(page.get_by_role("heading", name="Recommended Reading")).to_be_visible()
    entry = recommended_entry(page, "Effective Java")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("by Joshua Bloch")
    expect(entry).to_contain_text("Best practices for the Java platform, updated for Java 9.")
    expect(entry).to_contain_text("$44.99")
    expect(entry.get_by_role("link", name="Edit")).to_be_visible()


def test_a_bad_isbn_is_refused_and_the_form_keeps_what_was_typed(page: Page):
    open_add_form(page)
    fill_book_form(page, {**EFFECTIVE_JAVA, "ISBN": "9780134685992"})  # wrong check digit
    page.get_by_role("button", name="Add book").click()

    expect(page.get_by_role("alert")).to_have_text("Please correct the fields marked below; nothing was saved.")
    expect(page.locator("#e-isbn")).to_contain_text("Not a valid ISBN")
    expect(field(page, "ISBN")).to_have_attribute("aria-invalid", "true")
    expect(field(page, "Title")).to_have_value("Effective Java")
    expect(field(page, "Author")).to_have_value("Joshua Bloch")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Recommended Reading").click()
    expect(page.get_by_role("heading", name="Recommended Reading")).to_be_visible()
    expect(page.get_by_role("heading", name="Fluent Python", exact=True)).to_be_visible()
    expect(recommended_entry(page, "Effective Java")).to_have_count(0)


def test_an_anonymous_visitor_is_sent_to_sign_in_and_then_back_to_the_form(page: Page):
    page.goto("/add")

    expect(page).to_have_url(re.compile(r"/login\?next=%2Fadd$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("heading", name="Add a book")).to_have_count(0)

    page.get_by_label("Email").fill(STAFF_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/add$"))
    expect(page.get_by_role("heading", name="Add a book")).to_be_visible()
