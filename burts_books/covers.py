"""Uploaded covers: checked to be a real JPEG, PNG or WebP image, stripped of metadata, re-encoded in
the widths the pages show, and kept under the data folder with names made of their content's hash.

Decoding the pixels and encoding them afresh keeps nothing of the upload but
the picture: no EXIF (location, camera, author), no ICC or XMP block, no
trailing bytes of another format. Content-hashed names never change meaning,
so the shop (and nginx in production) may let browsers cache them for a year.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from .infra.errors import ValidationError

URL_PREFIX = "/covers/"
WIDTHS = (240, 480)  # the book module shows 150 px and 300 px on dense screens; the home page 120 px
FORMATS = {"JPEG", "PNG", "WEBP"}
MAX_PIXELS = 40_000_000  # larger pictures are refused before they are decoded (a decompression bomb)
MAX_ASPECT = 4  # a cover is taller than wide, but not a ribbon
QUALITY = 82


def _refuse(message: str) -> ValidationError:
    return ValidationError({"cover": message})


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=sorted(FORMATS))
            if image.width * image.height > MAX_PIXELS:
                raise _refuse("This image is too large in pixels; use one under 40 megapixels.")
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refuse("This file is not a JPEG, PNG or WebP image.") from None
    except (OSError, SyntaxError, ValueError):  # what Pillow raises for a damaged or cut-short file
        raise _refuse("This image is damaged or incomplete; export it again and upload that.") from None
    return image


def prepare(data: bytes, max_bytes: int) -> dict[int, bytes]:
    """The cover in each width as WebP bytes, or ValidationError saying what is wrong with the upload."""
    if not data:
        raise _refuse("The file is empty.")
    if len(data) > max_bytes:
        raise _refuse(f"The image is larger than {max_bytes // 1024} KB; upload a smaller one.")
    image = ImageOps.exif_transpose(_open(data))  # upright as the camera meant, before EXIF is dropped
    if max(image.width, image.height) > MAX_ASPECT * min(image.width, image.height):
        raise _refuse(f"A cover is at most {MAX_ASPECT} times as tall as it is wide, or as wide as tall.")
    image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    sizes = {}
    for width in WIDTHS:
        copy = image.copy()
        if copy.width > width:  # never enlarged: a small upload stays sharp
            copy = copy.resize((width, max(1, round(copy.height * width / copy.width))), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        copy.save(out, "WEBP", quality=QUALITY, method=4)  # no exif=, icc_profile=, xmp=: none is written
        sizes[width] = out.getvalue()
    return sizes


def _write(folder: Path, name: str, data: bytes) -> None:
    path = folder / name
    if path.exists():
        return  # the same content, by its name
    temporary = folder / f".{name}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)  # whole or not at all: nginx never serves half a file


class Covers:
    def __init__(self, folder: Path, max_bytes: int):
        self.folder = folder
        self.max_bytes = max_bytes

    async def store(self, data: bytes) -> dict[str, str]:
        """Check and keep an uploaded cover; returns {width: address} for each width the pages use.

        ValidationError (on the "cover" field) for a file that is not an image
        we take, and then nothing is written.
        """
        return await asyncio.get_running_loop().run_in_executor(None, self._store, data)

    def _store(self, data: bytes) -> dict[str, str]:
        sizes = prepare(data, self.max_bytes)
        self.folder.mkdir(parents=True, exist_ok=True)
        addresses = {}
        for width, encoded in sizes.items():
            name = f"{hashlib.sha256(encoded).hexdigest()[:24]}-{width}.webp"
            _write(self.folder, name, encoded)
            addresses[str(width)] = URL_PREFIX + name
        return addresses


def largest(cover: dict[str, str]) -> str:
    return cover[max(cover, key=int)]


def cover_for(book: dict, width: int | None = None) -> str:
    """The book's cover for `width` CSS pixels: the smallest uploaded size that wide, else its image
    (the largest upload, or the URL staff gave)."""
    sizes = sorted((int(size), url) for size, url in (book.get("cover") or {}).items())
    return next((url for size, url in sizes if width is not None and size >= width), book["image"])
