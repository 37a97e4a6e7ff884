"""ONIX for Books 3.0, the feed publishers and distributors send, read product by product.

Reference tags (`<Product>`, `<TitleText>`) and short tags (`<product>`,
`<b203>`) alike, in their default namespaces or none. Each `<Product>`
becomes the fields of the staff book form, so it is validated exactly as a
book typed by hand:

- isbn: ProductIdentifier of ProductIDType 15 (ISBN-13), else 02 (ISBN-10);
- title, subtitle: the distinctive title (TitleType 01), product level;
- author: the authors (ContributorRole A..), else every contributor, in order;
- description: TextContent of TextType 03 (description), else 02 (short);
- date_released: the publication date (PublishingDateRole 01), as "August 2007";
- price: the first PriceAmount of the supply details;
- image: the front cover's https:// link (the shop shows no other kind), and
  stock: the first Stock/OnHand; each left out when the product has none, so
  a book already in the shop keeps its own.

Parsing streams (each product is dropped once read) and refuses entity
declarations, so neither a big feed nor a "billion laughs" can exhaust memory:
defusedxml reads the prolog, the only place a DTD can declare entities, then
the standard C parser reads the rest (defusedxml's pure-Python one took
longer than the whole import).
"""

from __future__ import annotations

import calendar
import html
import math
import re
from collections.abc import Iterator
from typing import BinaryIO
from xml.etree.ElementTree import Element, ParseError, iterparse

import defusedxml.ElementTree
from defusedxml import DefusedXmlException

from .infra.errors import BadImportFile

CURRENCY = "USD"  # of every price in the shop ("$", catalog.price_text)
NAMESPACES = {"http://ns.editeur.org/onix/3.0/reference", "http://ns.editeur.org/onix/3.0/short"}

# Short tag -> reference name, for the elements read here. A composite's
# short tag is its reference name in lower case.
_SHORT = {
    "a002": "NotificationType", "b221": "ProductIDType", "b244": "IDValue",
    "b202": "TitleType", "x409": "TitleElementLevel", "b203": "TitleText",
    "b030": "TitlePrefix", "b031": "TitleWithoutPrefix", "b029": "Subtitle",
    "b034": "SequenceNumber", "b035": "ContributorRole", "b036": "PersonName",
    "b039": "NamesBeforeKey", "b040": "KeyNames", "b047": "CorporateName",
    "x426": "TextType", "d104": "Text", "x436": "ResourceContentType", "x435": "ResourceLink",
    "x448": "PublishingDateRole", "b306": "Date", "j151": "PriceAmount", "j350": "OnHand",
    "x462": "PriceType", "j152": "CurrencyCode", "m186": "DefaultCurrencyCode",
}
_COMPOSITES = (
    "ONIXMessage", "Header", "Product", "ProductIdentifier", "DescriptiveDetail", "TitleDetail",
    "TitleElement", "Contributor", "CollateralDetail", "TextContent", "SupportingResource",
    "ResourceVersion", "PublishingDetail", "PublishingDate", "ProductSupply", "SupplyDetail",
    "Price", "Stock",
)
_SHORT.update({name.lower(): name for name in _COMPOSITES}, ONIXmessage="ONIXMessage")
_PRODUCT_TAGS = {"Product", "product"} | {f"{{{ns}}}{tag}" for ns in NAMESPACES for tag in ("Product", "product")}
_DATE = re.compile(r"(?P<year>[0-9]{4})(?P<month>[0-9]{2})?(?:[0-9]{2})?")


def _name(element: Element) -> str:
    local = element.tag.rpartition("}")[2]
    return _SHORT.get(local, local)


def _children(element: Element | None, name: str) -> list[Element]:
    return [] if element is None else [child for child in element if child.tag == name]


def _child(element: Element | None, name: str) -> Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _text(element: Element | None, *path: str) -> str:
    for name in path:
        element = _child(element, name)
    return "" if element is None else "".join(element.itertext()).strip()


def _preferred(elements: list[Element], code_element: str, *codes: str) -> Element | None:
    """The first element whose code is the earliest of `codes` found, else the first element."""
    for code in codes:
        for element in elements:
            if _text(element, code_element) == code:
                return element
    return elements[0] if elements else None


def _isbn(product: Element) -> str:
    ids: dict[str, str] = {}
    for identifier in _children(product, "ProductIdentifier"):
        ids.setdefault(_text(identifier, "ProductIDType"), _text(identifier, "IDValue"))
    # A GTIN-13 (03) in the Bookland ranges is the book's ISBN-13, as some feeds give it alone.
    gtin = ids.get("03", "")
    return ids.get("15") or ids.get("02") or (gtin if gtin.startswith(("978", "979")) else "")


def _title(detail: Element | None) -> tuple[str, str]:
    title = _preferred(_children(detail, "TitleDetail"), "TitleType", "01")
    element = _preferred(_children(title, "TitleElement"), "TitleElementLevel", "01")
    text = _text(element, "TitleText") or " ".join(
        part for part in (_text(element, "TitlePrefix"), _text(element, "TitleWithoutPrefix")) if part)
    return text, _text(element, "Subtitle")


def _person(contributor: Element) -> str:
    return (_text(contributor, "PersonName")
            or " ".join(p for p in (_text(contributor, "NamesBeforeKey"), _text(contributor, "KeyNames")) if p)
            or _text(contributor, "CorporateName"))


def _author(detail: Element | None) -> str:
    """The authors (any role of theirs A..: by, with, ...), in the feed's SequenceNumber order (the
    file's where it gives none); every contributor when none is an author."""
    listed = list(enumerate(_children(detail, "Contributor")))
    ordered = [c for _, c in sorted(listed, key=lambda pair: (_sequence(pair[1]), pair[0]))]
    authors = [c for c in ordered
               if any(_text(role).startswith("A") for role in _children(c, "ContributorRole"))] or ordered
    return ", ".join(name for name in map(_person, authors) if name)


def _sequence(contributor: Element) -> float:
    number = _text(contributor, "SequenceNumber")
    return int(number) if number.isdecimal() else math.inf


def _markup(element: Element) -> str:
    """An element's content as HTML: XHTML children (any namespace) keep their tags."""
    parts = [html.escape(element.text or "", quote=False)]
    for child in element:
        name = child.tag
        attributes = "".join(f' {k.rpartition("}")[2]}="{html.escape(v)}"' for k, v in child.attrib.items())
        parts.append(f"<{name}{attributes}>{_markup(child)}</{name}>")
        parts.append(html.escape(child.tail or "", quote=False))
    return "".join(parts)


def _description(collateral: Element | None) -> str:
    content = _preferred(_children(collateral, "TextContent"), "TextType", "03", "02")
    text = _child(content, "Text")
    if text is None:
        return ""
    # Without child elements the text is the HTML itself (escaped in the XML), or plain text.
    return (_markup(text) if len(text) else text.text or "").strip()


def _cover(collateral: Element | None) -> str:
    for resource in _children(collateral, "SupportingResource"):
        if _text(resource, "ResourceContentType") == "01":
            for version in _children(resource, "ResourceVersion"):
                link = _text(version, "ResourceLink")
                if link.startswith("https://"):
                    return link
    return ""


def _released(publishing: Element | None) -> str:
    date = _text(_preferred(_children(publishing, "PublishingDate"), "PublishingDateRole", "01"), "Date")
    found = _DATE.fullmatch(date)
    if found is None:
        return date
    month = int(found["month"] or 0)
    return f"{calendar.month_name[month]} {found['year']}" if 1 <= month <= 12 else found["year"]


def _price(supply: Element | None, default_currency: str) -> str | None:
    """The book's price in the shop's currency (a price that names none is in the feed's default, or
    taken as in the shop's): a consumer's price (PriceType 01, then 02) where there are several. None
    when no price is."""
    prices = [price for detail in _children(supply, "SupplyDetail") for price in _children(detail, "Price")
              if _child(price, "PriceAmount") is not None
              and (_text(price, "CurrencyCode") or default_currency or CURRENCY) == CURRENCY]
    chosen = _preferred(prices, "PriceType", "01", "02")
    return None if chosen is None else _text(chosen, "PriceAmount")


def _first(supply: Element | None, holder: str, name: str) -> str | None:
    for detail in _children(supply, "SupplyDetail"):
        for element in _children(detail, holder):
            if _child(element, name) is not None:
                return _text(element, name)
    return None


def product_form(product: Element, default_currency: str = "") -> tuple[dict[str, str], str | None]:
    """The book form fields a Product carries, and why it can't be imported (or None); the feed's
    Header may give a DefaultCurrencyCode, of the prices that name none.

    Renames the product's elements to plain reference names, so that every
    lookup below compares names once they are known.
    """
    for element in product.iter():
        element.tag = _name(element)
    detail = _child(product, "DescriptiveDetail")
    collateral = _child(product, "CollateralDetail")
    supply = _child(product, "ProductSupply")
    title, subtitle = _title(detail)
    form = {
        "isbn": _isbn(product), "title": title, "subtitle": subtitle, "author": _author(detail),
        "date_released": _released(_child(product, "PublishingDetail")),
        "description": _description(collateral), "price": _price(supply, default_currency) or "",
    }
    cover, stock = _cover(collateral), _first(supply, "Stock", "OnHand")
    if cover:
        form["image"] = cover
    if stock is not None:
        form["stock"] = stock
    if _text(product, "NotificationType") == "05":
        return form, "a deletion (NotificationType 05): remove the book from the shop by hand"
    if not form["price"] and _first(supply, "Price", "PriceAmount") is not None:
        return form, f"no price in {CURRENCY}, the shop's currency"
    return form, None


def _products(stream: BinaryIO, name: str) -> Iterator[tuple[Element, str]]:
    """Each Product element, complete, with the Header's DefaultCurrencyCode (or ""); earlier ones
    are dropped to keep memory flat."""
    default_currency = ""
    try:
        _check_prolog(stream)
        root = None
        for event, element in iterparse(stream, events=("start", "end")):
            if root is None:
                root = element
                _check_root(root, name)
            elif event == "end" and element.tag in _PRODUCT_TAGS:
                yield element, default_currency
                root.clear()  # the product and anything before it
            elif event == "end" and _name(element) == "Header":
                default_currency = next(((child.text or "").strip() for child in element
                                         if _name(child) == "DefaultCurrencyCode"), "")
    except ParseError as exc:
        raise BadImportFile(f"{name}: malformed XML ({exc})") from None
    except DefusedXmlException as exc:
        raise BadImportFile(f"{name}: refused, the XML declares entities ({exc!r})") from None


def _check_prolog(stream: BinaryIO) -> None:
    """Read up to the root element with defusedxml (entity declarations refused), then rewind."""
    for _event in defusedxml.ElementTree.iterparse(stream, events=("start",)):
        break
    stream.seek(0)


def _check_root(root: Element, name: str) -> None:
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    release = root.get("release", "")
    if _name(root) != "ONIXMessage" or not (namespace in NAMESPACES or (
            not namespace and release.startswith("3."))):
        raise BadImportFile(f"{name}: not an ONIX for Books 3.0 message "
                            f"(root element {root.tag!r}, release {release or 'not given'})")


def count(stream: BinaryIO, name: str) -> int:
    """How many products the feed holds; BadImportFile if it can't be read to the end."""
    return sum(1 for _ in _products(stream, name))


def records(stream: BinaryIO, name: str) -> Iterator[tuple[int, dict[str, str], str | None]]:
    """(record number from 1, form fields, reason it can't be imported or None) per product."""
    for number, (product, default_currency) in enumerate(_products(stream, name), 1):
        form, problem = product_form(product, default_currency)
        yield number, form, problem
