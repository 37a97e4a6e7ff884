"""The OpenAPI 3.1 description of the JSON API, served at /api/openapi.json.

Built from the limits the handlers enforce, so the numbers cannot drift
apart; tests/test_openapi.py holds its paths to the route table, and
schemathesis fuzzes the running shop from it.
"""

from ..carts import MAX_PER_TITLE
from ..infra.config import Settings
from ..infra.numbers import LARGEST
from ..inventory import MAX_STOCK
from ..orders import MAX_NAME, MAX_NOTE, STATUS_LABELS
from ..orders import NUMBER_PATTERN as ORDER_NUMBER
from .api import MAX_API_PAGE_SIZE
from .base import JsonHandler, json_text
from .cart import ACTIONS as CART_ACTIONS
from .live import MAX_ISBNS
from .mixins import MAX_PAGE, MAX_QUERY

EXAMPLE_ISBN = "9780596529321"
ERROR_SHAPE = '`{"error": {"status": <HTTP status>, "message": "<what to do about it>"}}`'
NUMBER = {"type": "integer", "minimum": 0}
TEXT = {"type": "string"}
PAGE = {"text/html": {"schema": TEXT}}
RETRY_AFTER = {"required": True, "schema": {"type": "integer", "minimum": 0}}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def record(**properties) -> dict:
    """An object with exactly these properties, all of them always present."""
    return {"type": "object", "required": list(properties), "properties": properties, "additionalProperties": False}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def answer(description: str, schema: dict) -> dict:
    return {"description": description, "content": json_content(schema)}


def refusals(*statuses: int, pages: bool = False) -> dict:
    """The shared refusal responses; `pages` adds the HTML page a browser gets instead."""
    if pages:
        return {str(status): with_page(RESPONSES[str(status)]) for status in statuses}
    return {str(status): {"$ref": f"#/components/responses/{status}"} for status in statuses}


def with_page(response: dict) -> dict:
    return {**response, "content": {**response["content"], **PAGE}}


ISBN_IN_PATH = {
    "name": "isbn", "in": "path", "required": True,
    "description": "ISBN-10 or ISBN-13, hyphens allowed; an unknown one is a 404.",
    "schema": {"type": "string", "pattern": "^[0-9Xx-]{10,17}$", "examples": [EXAMPLE_ISBN, "0-596-52932-5"]},
}
ISBN_TEXT = {"type": "string", "pattern": "^[0-9Xx\\s-]{10,}$", "examples": [EXAMPLE_ISBN],
             "description": "ISBN-10 or ISBN-13 (its check digit right); hyphens and spaces allowed."}

MOMENT = {"type": ["string", "null"], "format": "date-time", "examples": ["2026-12-01T16:40:00.125000Z"]}
ERROR = {
    **record(status={"type": "integer", "minimum": 400, "maximum": 599}, message=TEXT),
    "properties": {
        "status": {"type": "integer", "minimum": 400, "maximum": 599}, "message": TEXT,
        "fields": {"type": "object", "additionalProperties": TEXT,
                   "description": "for bad input in named fields: what is wrong with each, as the form says it"},
    },
}
ORDER_NUMBER_TEXT = {"type": "string", "pattern": f"^{ORDER_NUMBER}$", "examples": ["BB-10001"]}
SCHEMAS = {
    "Error": record(error=ERROR),
    "Book": record(
        isbn=ref("Isbn13"), title=TEXT, subtitle=TEXT, author=TEXT,
        image={"type": ["string", "null"], "description": "a /static/ path or an https:// address"},
        date_released=TEXT, date_added={"type": "string", "format": "date-time"},
        description={"type": "string", "description": "sanitized HTML"},
        price_cents=NUMBER, available=NUMBER, version=NUMBER,
    ),
    "BookPage": record(
        books={"type": "array", "items": ref("Book")}, query=TEXT,
        page={"type": "integer", "minimum": 1}, pages={"type": "integer", "minimum": 1},
        size={"type": "integer", "minimum": 1, "maximum": MAX_API_PAGE_SIZE}, total=NUMBER,
    ),
    "Isbn13": {"type": "string", "pattern": "^97[89][0-9]{10}$"},
    "BookState": record(isbn=ref("Isbn13"), available=NUMBER, version=NUMBER),
    "StockRow": record(
        isbn=ref("Isbn13"), title=TEXT, stock={**NUMBER, "description": "copies on hand"},
        available={**NUMBER, "description": "copies that can still go into a cart"},
        held={**NUMBER, "description": "copies held in shoppers' carts"},
        sold={**NUMBER, "description": "copies sold in the last 30 days, less those cancelled"}, version=NUMBER,
    ),
    "CartLine": record(
        isbn=ref("Isbn13"), title=TEXT, price_cents=NUMBER, image={"type": ["string", "null"]},
        available=NUMBER, quantity={"type": "integer", "minimum": 1, "maximum": MAX_PER_TITLE},
    ),
    "Cart": record(
        items={"type": "array", "items": ref("CartLine")},
        count=NUMBER, total_cents=NUMBER,
        hold_ends={**MOMENT, "description": "when the copies go back on sale unless the cart changes (UTC)"},
        warn_at={**MOMENT, "description": "from when the pages warn that the hold ends soon (UTC)"},
        lapsed={"type": "array", "items": ref("CartLine"),
                "description": "copies whose hold expired and went back on sale; `add_again` offers them"},
        expired_at={**MOMENT, "description": "when the hold on the lapsed copies expired (UTC)"},
        revision={**NUMBER, "description": "moves with every change the shopper makes; send it to place the order"},
        prices={"type": "string", "pattern": "^[0-9a-f]{16}$",
                "description": "a key to the lines' prices; send it to place the order at the prices reviewed"},
    ),
    "OrderLine": record(isbn=ref("Isbn13"), title=TEXT, price_cents={**NUMBER, "description": "as sold"},
                        quantity={"type": "integer", "minimum": 1}),
    "Order": record(
        number=ORDER_NUMBER_TEXT,
        status={"enum": list(STATUS_LABELS)},
        created_at={"type": "string", "format": "date-time"},
        lines={"type": "array", "items": ref("OrderLine")},
        total_cents=NUMBER,
        payment=record(method={"enum": ["pay_at_pickup"]}, status={"type": "string"}),
        pickup_code={"type": ["string", "null"], "pattern": "^[0-9]{6}$",
                     "description": "shown at the counter; null once the order is collected or cancelled"},
        name=TEXT, email=TEXT, phone=TEXT, note=TEXT,
        history={"type": "array", "items": record(status={"enum": list(STATUS_LABELS)},
                                                   at={"type": "string", "format": "date-time"})},
    ),
}

RESPONSES = {
    "400": answer("Bad input: the message says what to send instead. Nothing changed.", ref("Error")),
    "401": {
        "description": "Not signed in, or the API token is wrong or revoked. Nothing changed.",
        "headers": {"WWW-Authenticate": {"required": True, "schema": TEXT}},
        "content": json_content(ref("Error")),
    },
    "403": answer("Not allowed: a staff-only call, or a POST with neither an API token nor the XSRF token. "
                  "Nothing changed.", ref("Error")),
    "404": answer("No such book. Nothing changed.", ref("Error")),
    "429": {
        "description": "Too many requests from this client: wait Retry-After seconds. Nothing changed.",
        "headers": {"Retry-After": RETRY_AFTER},
        "content": json_content(ref("Error")),
    },
    "503": {
        "description": "The store could not keep a change (its disk refused the write), so nothing changed: "
                       "try again after Retry-After seconds.",
        "headers": {"Retry-After": RETRY_AFTER},
        "content": json_content(ref("Error")),
    },
}

# Cookie sessions work too (with the XSRF token on every POST), as the shop's own pages use them.
OPTIONAL_AUTH: list[dict] = [{}, {"bearerAuth": []}, {"session": []}]
STAFF_AUTH: list[dict] = [{"bearerAuth": []}, {"session": []}]
SIGNED_IN = STAFF_AUTH  # any signed-in person: a session, or an API token (staff make them, for themselves)


def operation(operation_id: str, summary: str, responses: dict, *, parameters=(), body=None,
              security=OPTIONAL_AUTH, refused=(401, 429), pages=False) -> dict:
    # Any call may write (a cart, a token's last use), and so meet a store that can't keep it.
    described = {"operationId": operation_id, "summary": summary, "security": security,
                 "responses": {**responses, **refusals(*refused, 503, pages=pages)}}
    if parameters:
        described["parameters"] = list(parameters)
    if body is not None:
        described["requestBody"] = {"required": True, "content": json_content(body)}
    return described


def query(name: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


PATHS = {
    "/api/books": {"get": operation(
        "listBooks", "Search the catalog, a page at a time (the whole catalog in title order)",
        {"200": answer("One page of books", ref("BookPage"))},
        parameters=[
            query("q", {"type": "string", "maxLength": MAX_QUERY},
                  "Words that each start a word of the title, subtitle, author, ISBN or description "
                  "(a misspelt word is replaced by the nearest one), or an ISBN in any form; most relevant first."),
            query("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}, "Page number."),
            query("size", {"type": "integer", "minimum": 1, "maximum": MAX_API_PAGE_SIZE,
                              "default": Settings.page_size},
                  "Books per page."),
        ],
        refused=(400, 401, 429),
    )},
    "/api/books/{isbn}": {"get": operation(
        "getBook", "One book", {"200": answer("The book", ref("Book"))},
        parameters=[ISBN_IN_PATH], refused=(401, 404, 429),
    )},
    "/api/books/{isbn}/restock": {"post": operation(
        "restockBook", "Add copies that arrived (staff)",
        {"200": answer("The book's new stock state", record(book=ref("BookState")))},
        parameters=[ISBN_IN_PATH],
        body={"type": "object", "required": ["copies"], "properties": {
            "copies": {"type": "integer", "minimum": 1, "maximum": MAX_STOCK}}},
        security=STAFF_AUTH,
        refused=(400, 401, 403, 404, 429),
    )},
    "/api/stock": {"get": operation(
        "getStock", "What the staff stock page shows of these books (staff)",
        {"200": answer("The books' stock, in the order asked (an ISBN given twice, once)",
                       record(books={"type": "array", "items": ref("StockRow")}))},
        parameters=[{**query("isbn", {"type": "array", "items": ISBN_TEXT, "minItems": 1, "maxItems": MAX_ISBNS},
                             "Books to read.", required=True), "style": "form", "explode": True}],
        security=STAFF_AUTH,
        refused=(400, 401, 403, 404, 429),
    )},
    # The cart serves browsers too: JSON when the body is JSON, the request asks for it (Accept) or
    # carries a token; otherwise the page a browser shows.
    "/cart": {
        "get": operation(
            "getCart", "The visitor's cart",
            {"200": with_page(answer("The cart", record(cart=ref("Cart"))))}, pages=True,
        ),
        "head": operation(
            "headCart", "The headers GET would answer with, without the cart",
            {"200": {"description": "As GET, with no body"}}, pages=True,
        ),
        "post": operation(
            "changeCart", "Put one copy of a book in the cart or take one out, set its copies, hold again the "
            "copies of an expired hold, or stop being told about them",
            {
                "200": answer("Done: the cart and the book's new state (null for `forget`)",
                              record(cart=ref("Cart"), book={"anyOf": [ref("BookState"), {"type": "null"}]})),
                "409": with_page(answer(
                    f"Refused (sold out or too few left, not in the cart or its hold expired, changed meanwhile, "
                    f"{MAX_PER_TITLE} copies of the title or the cart's cap already), with the cart and the book "
                    "as they are now. Nothing changed.",
                    record(error=ERROR, cart=ref("Cart"),
                           book={"anyOf": [ref("BookState"), {"type": "null"}]}))),
            },
            body={"type": "object", "required": ["action"], "properties": {
                "action": {"enum": list(CART_ACTIONS)},
                "isbn": {**ISBN_TEXT, "description": "required but for `forget`"},
                "quantity": {"type": "integer", "minimum": 0, "maximum": MAX_PER_TITLE,
                             "description": "for `set`: the copies to hold"}}},
            refused=(400, 401, 403, 404, 429), pages=True,
        ),
    },
    "/api/orders": {
        "get": operation(
            "listOrders", "Your orders, newest first (the last 100)",
            {"200": answer("Your orders", record(orders={"type": "array", "items": ref("Order")}))},
            security=SIGNED_IN,
        ),
        "post": operation(
            "placeOrder", "Place your cart as an order to collect and pay for at the shop, as you reviewed it "
            "(GET /cart: its `revision` and `prices`)",
            {
                "201": {**answer("Placed: the order, mailed to its email", record(order=ref("Order"))),
                        "headers": {"Location": {"required": True, "schema": TEXT}}},
                "200": {**answer("This cart was ordered moments ago (a repeated request): that order, no second one",
                                 record(order=ref("Order"))),
                        "headers": {"Location": {"required": True, "schema": TEXT}}},
                "400": answer("Bad input, each bad field named in `fields`, or an empty cart. Nothing changed.",
                              ref("Error")),
                "409": answer("The cart or a price changed since the review: the cart as it is now, to review "
                              "again. Nothing changed.", record(error=ERROR, cart=ref("Cart"))),
            },
            body={"type": "object", "required": ["name", "email", "revision", "prices"], "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
                "email": {"type": "string", "format": "email"},
                "phone": {"type": "string", "description": "optional: 7 to 15 digits"},
                "note": {"type": "string", "maxLength": MAX_NOTE},
                "revision": {"type": "integer", "minimum": 0, "maximum": LARGEST},
                "prices": {"type": "string"}}},
            security=SIGNED_IN, refused=(401, 403, 429),
        ),
    },
    "/api/orders/{number}": {"get": operation(
        "getOrder", "One of your orders",
        {"200": answer("The order", record(order=ref("Order"))),
         "404": answer("You have no order with this number.", ref("Error"))},
        parameters=[{"name": "number", "in": "path", "required": True, "schema": ORDER_NUMBER_TEXT}],
        security=SIGNED_IN,
    )},
    "/cart/status": {"get": operation(
        "pollStock",
        "Long poll: answers at once when a book's version is newer than the one given, else at the next change "
        "or after the poll timeout, unchanged",
        {"200": answer("The books' states, in the order asked",
                       record(books={"type": "array", "items": ref("BookState")}))},
        parameters=[
            {**query("isbn", {"type": "array", "items": ISBN_TEXT, "minItems": 1, "maxItems": MAX_ISBNS},
                     "Books to watch, each once.", required=True), "style": "form", "explode": True},
            {**query("version", {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": LARGEST},
                                 "maxItems": MAX_ISBNS},
                     "The highest version seen of each book, in the same order (or none at all)."),
             "style": "form", "explode": True},
        ],
        refused=(400, 401, 404, 429),
    )},
    "/api/openapi.json": {"get": operation(
        "getOpenApi", "This document", {"200": answer("The OpenAPI 3.1 description of the API", {"type": "object"})},
        refused=(401, 429),
    )},
}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Burt's Books API",
        "version": "1",
        "description": (
            "The catalog, stock, carts and orders of Burt's Books for programs. Every error comes back as "
            f"{ERROR_SHAPE}, and a refused request changes nothing. Programs authenticate with an API token "
            "that staff make at /account/tokens; a request with a token needs no XSRF token."
        ),
    },
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": RESPONSES,
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer",
                           "description": "An API token (bbk_...): the program acts as the token's owner, with "
                                          "the rights that account has at each request."},
            "session": {"type": "apiKey", "in": "cookie", "name": "session",
                        "description": "A browser session from POST /login; every POST must also send the _xsrf "
                                       "cookie's value in an X-XSRFToken header."},
        },
    },
}

DOCUMENT_JSON = json_text(DOCUMENT).encode()


class OpenApiHandler(JsonHandler):
    def get(self):
        self.write_json(DOCUMENT_JSON)
