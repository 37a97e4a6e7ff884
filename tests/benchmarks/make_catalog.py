"""Write an import file of N made-up books, the same file for the same seed.

    python -m tests.benchmarks.make_catalog --books 20000 --seed 7 --output catalog.csv
    python -m tests.benchmarks.make_catalog --books 20000 --format onix --output catalog.xml

Fields have realistic lengths: titles of 2-8 words, one to three authors,
descriptions of 300-1500 characters in <p> paragraphs, unique ISBN-13s with
correct check digits, prices from 4.00 to 89.99, stock 0-50 with about one
book in ten sold out. The file is written book by book, so any size fits.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO
from xml.sax.saxutils import escape

from burts_books.catalog_csv import COLUMNS
from burts_books.isbn import isbn13_check_digit

WORDS = [
    "ancient", "answer", "autumn", "bridge", "broken", "candle", "castle", "certain", "circle", "city", "clever",
    "cloud", "coast", "cold", "common", "copper", "corner", "country", "crowd", "dance", "dark", "daughter", "deep",
    "desert", "distant", "dream", "early", "earth", "echo", "empire", "engine", "evening", "faith", "far", "field",
    "final", "fire", "first", "flight", "forest", "forgotten", "fortune", "garden", "gentle", "ghost", "glass",
    "gold", "great", "green", "harbor", "harvest", "heart", "hidden", "history", "hollow", "honest", "house",
    "hunger", "iron", "island", "journey", "kingdom", "lantern", "last", "light", "little", "long", "lost",
    "machine", "map", "market", "memory", "midnight", "mirror", "modern", "moon", "morning", "mountain", "music",
    "name", "narrow", "night", "north", "ocean", "old", "orchard", "paper", "patient", "people", "quiet", "rain",
    "reason", "red", "river", "road", "salt", "school", "sea", "second", "secret", "shadow", "silent", "silver",
    "simple", "small", "song", "south", "spring", "stone", "storm", "strange", "street", "summer", "sun", "theory",
    "thousand", "time", "tomorrow", "tower", "train", "true", "valley", "voice", "war", "water", "west", "white",
    "wild", "wind", "winter", "wolf", "wonder", "world", "year", "young"
]
FIRST_NAMES = [
    "Ada", "Alan", "Amara", "Ben", "Carmen", "Chen", "Clara", "David", "Elena", "Emeka", "Farah", "Grace", "Hana",
    "Ivan", "Jonas", "Julia", "Kofi", "Lena", "Luis", "Maya", "Mei", "Nadia", "Omar", "Priya", "Rosa", "Sam",
    "Sofia", "Tariq", "Uma", "Yuki"
]
LAST_NAMES = [
    "Abara", "Berg", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski",
    "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Santos", "Tanaka", "Uddin", "Varga",
    "Weber", "Xu", "Yilmaz", "Zhang"
]


def _isbns(rng: random.Random, count: int) -> list[str]:
    # 978 + nine distinct random digits: unique without a set of what was drawn.
    return [body + isbn13_check_digit(body)
            for body in (f"978{n:09d}" for n in rng.sample(range(10**9), count))]


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def _description(rng: random.Random) -> str:
    # Whole sentences up to a target length (the last one may pass it by a sentence).
    target = rng.randint(300, 1300)
    paragraphs, size = [], 0
    while size < target:
        sentences = []
        for _ in range(rng.randint(2, 5)):
            sentence = _words(rng, 6, 18).capitalize()
            if rng.random() < 0.2:
                sentence = sentence.replace(" ", " <em>", 1) + "</em>"
            sentences.append(sentence + ".")
            size += len(sentences[-1]) + 1
            if size >= target:
                break
        paragraphs.append(f"<p>{' '.join(sentences)}</p>")
    return "".join(paragraphs)


def books(count: int, seed: int) -> Iterator[dict[str, str]]:
    """Book form fields (strings, as in the CSV) for `count` books."""
    rng = random.Random(seed)
    for isbn in _isbns(rng, count):
        authors = [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(rng.choice((1, 1, 1, 2, 3)))]
        yield {
            "isbn": isbn,
            "title": _words(rng, 2, 8).title(),
            "subtitle": _words(rng, 3, 7).capitalize() if rng.random() < 0.4 else "",
            "author": ", ".join(authors),
            "price": f"{rng.randint(4, 89)}.{rng.choice((99, 95, 50, 0)):02d}",
            "stock": str(0 if rng.random() < 0.1 else rng.randint(1, 50)),
            "date_released": f"{calendar.month_name[rng.randint(1, 12)]} {rng.randint(1950, 2026)}",
            "description": _description(rng),
            "image": "",
        }


def write_csv(entries: Iterator[dict[str, str]], out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for book in entries:
        writer.writerow([book[column] for column in COLUMNS])


def _onix_product(book: dict[str, str]) -> str:
    e = escape
    authors = "".join(
        f"<Contributor><SequenceNumber>{n}</SequenceNumber><ContributorRole>A01</ContributorRole>"
        f"<PersonName>{e(name)}</PersonName></Contributor>"
        for n, name in enumerate(book["author"].split(", "), 1))
    subtitle = f"<Subtitle>{e(book['subtitle'])}</Subtitle>" if book["subtitle"] else ""
    month, year = book["date_released"].split()
    date = f"{year}{list(calendar.month_name).index(month):02d}01"
    return (
        f"<Product><RecordReference>burts.example.{book['isbn']}</RecordReference>"
        "<NotificationType>03</NotificationType>"
        f"<ProductIdentifier><ProductIDType>15</ProductIDType><IDValue>{book['isbn']}</IDValue></ProductIdentifier>"
        "<DescriptiveDetail><ProductComposition>00</ProductComposition><ProductForm>BC</ProductForm>"
        f"<TitleDetail><TitleType>01</TitleType><TitleElement><TitleElementLevel>01</TitleElementLevel>"
        f"<TitleText>{e(book['title'])}</TitleText>{subtitle}</TitleElement></TitleDetail>{authors}"
        "</DescriptiveDetail>"
        "<CollateralDetail><TextContent><TextType>03</TextType><ContentAudience>00</ContentAudience>"
        f"<Text textformat=\"02\">{e(book['description'])}</Text></TextContent></CollateralDetail>"
        "<PublishingDetail><PublishingDate><PublishingDateRole>01</PublishingDateRole>"
        f"<Date>{date}</Date></PublishingDate></PublishingDetail>"
        "<ProductSupply><SupplyDetail><Supplier><SupplierRole>01</SupplierRole>"
        "<SupplierName>Burt's Distribution</SupplierName></Supplier>"
        f"<ProductAvailability>21</ProductAvailability><Stock><OnHand>{book['stock']}</OnHand></Stock>"
        f"<Price><PriceType>01</PriceType><PriceAmount>{book['price']}</PriceAmount>"
        "<CurrencyCode>USD</CurrencyCode></Price></SupplyDetail></ProductSupply></Product>\n"
    )


def write_onix(entries: Iterator[dict[str, str]], out: TextIO) -> None:
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n'
              '<ONIXMessage release="3.0" xmlns="http://ns.editeur.org/onix/3.0/reference">\n'
              "<Header><Sender><SenderName>Burt's Distribution</SenderName></Sender>"
              "<SentDateTime>20261101</SentDateTime></Header>\n")
    for book in entries:
        out.write(_onix_product(book))
    out.write("</ONIXMessage>\n")


WRITERS = {"csv": write_csv, "onix": write_onix}


def make_catalog(path: Path, count: int, seed: int = 7, kind: str = "csv") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as out:
        WRITERS[kind](books(count, seed), out)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", choices=sorted(WRITERS), default="csv")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    make_catalog(args.output, args.books, args.seed, args.format)
    print(f"wrote {args.books} books to {args.output}")


if __name__ == "__main__":
    main()
