"""How text becomes the words search matches: accents folded, case ignored, c++ and c# kept whole.

Shared by the catalog (the keywords it stores) and the catalog view (the
indexes it searches), so a query and a book are cut into words the same way.
"""

from __future__ import annotations

import html as html_entities
import re
import unicodedata

# A run of letters and digits, with the "++" or "#" that ends a language's name
# (c++, c#, f#): searched as words of their own, not as "c".
_WORD = re.compile(r"[^\W_]+(?:\+\+|#)?")
_TAG = re.compile(r"<[^>]*>")


def fold(text: str) -> str:
    """Lower case without accents: "Café" -> "cafe"."""
    text = (text or "").lower()
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def html_words(html: str) -> list[str]:
    """The words a reader sees in stored description HTML (tags are not words)."""
    return words(_TAG.sub(" ", html or ""))


def plain_text(html: str) -> str:
    """Description HTML as one line of text, for a summary such as a page's meta description."""
    return " ".join(html_entities.unescape(_TAG.sub(" ", html or "")).split())
