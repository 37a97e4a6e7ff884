"""Constants the tests share: the starter catalog and the books they lean on."""

import json
from pathlib import Path

STARTER_BOOKS = json.loads(
    (Path(__file__).resolve().parent.parent / "migrations" / "0002_starter_books.json").read_text(encoding="utf-8")
)
PCI = "9780596529321"  # Programming Collective Intelligence: 12 copies in the seed
RESTFUL = "9780596529260"  # RESTful Web Services
JSON = {"Accept": "application/json"}
