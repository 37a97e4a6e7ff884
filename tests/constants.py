"""Values the tests share, defined here only: the starter catalog, the books and accounts they lean on, secrets."""

import json
from pathlib import Path

from burts_books.isbn import isbn13_check_digit

STARTER_BOOKS = json.loads(
    (Path(__file__).resolve().parent.parent / "migrations" / "0002_starter_books.json").read_text(encoding="utf-8")
)
PCI = "9780596529321"  # Programming Collective Intelligence: 12 copies in the seed
RESTFUL = "9780596529260"  # RESTful Web Services
UNKNOWN_ISBN = "9781234567897"  # a valid ISBN-13 of no book in the seed

ATTACKER = "203.0.113.66"  # an abuser's network address (TEST-NET-3)
ADDRESS = "192.0.2.1"  # a shopper's network address (TEST-NET-1), for the calls that take one

JSON = {"Accept": "application/json"}  # what the page script and API clients ask for

PASSWORD = "correct horse battery"  # every account the tests make has this password
STAFF_EMAIL = "burt@burtsbooks.com"
SHOPPER_EMAIL = "reader@example.com"

# Signs cookies in every shop the tests start, in this process or as a subprocess.
COOKIE_SECRET = "test-cookie-secret-" + "x" * 32


def isbn_13(number: int) -> str:
    """A valid ISBN-13 for each number (979 prefix), none of them in the starter catalog."""
    body = f"979{number:09d}"
    return body + isbn13_check_digit(body)
