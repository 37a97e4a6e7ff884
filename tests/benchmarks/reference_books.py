"""What the page references render: the twelve starter books and the Recommended Reading markup
(`reference_page.html`), with no database, so each framework's page is the same work."""

import datetime
import json
from pathlib import Path

import jinja2

from burts_books.infra import resources

TEMPLATES = Path(__file__).resolve().parent
PAGE = "reference_page.html"


def starter_books() -> list[dict]:
    books = json.loads((resources.MIGRATIONS / "0002_starter_books.json").read_text())
    added = datetime.datetime(2026, 12, 1)
    return [dict(book, date_added=added) for book in books]


BOOKS = starter_books()


def price(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"


def environment() -> jinja2.Environment:
    """A Jinja2 environment for the page, autoescaped like the shop's."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    env.filters["price"] = price
    return env
