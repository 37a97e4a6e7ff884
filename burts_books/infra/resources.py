"""Where the shop's templates, static files and migrations are.

The repository keeps them at its top level (templates/, static/,
migrations/). A built wheel carries them inside the package, under
burts_books/share/ (setup.cfg maps each folder there), so an installed shop
needs no checkout. An editable install or a checkout finds them at the top.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

_PACKAGED = Path(str(importlib.resources.files("burts_books"))) / "share"
_CHECKOUT = _PACKAGED.parent.parent


def folder(name: str) -> Path:
    """The folder `templates`, `static` or `migrations`, wherever this copy of the shop keeps it."""
    packaged = _PACKAGED / name
    return packaged if packaged.is_dir() else _CHECKOUT / name


TEMPLATES = folder("templates")
STATIC = folder("static")
MIGRATIONS = folder("migrations")
