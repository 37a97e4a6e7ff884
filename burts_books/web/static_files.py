"""Static files and uploaded covers, with the shop's security headers and short content-hash versions."""

from __future__ import annotations

import cachetools
import tornado.web

from .base import NOTHING_INLINE_POLICY, set_security_headers

STATIC_VERSION_LENGTH = 16  # hex digits of a static file's content hash in its address (?v=)


class StaticFiles(tornado.web.StaticFileHandler):
    """Static files with the shop's security headers; a path no file can have is a 404, not a 500."""

    # A page asks for the same few addresses (style sheets, scripts, covers) every time it is rendered:
    # each is worked out once (unless debug mode re-reads changed files, static_hash_cache off).
    _urls: cachetools.LRUCache = cachetools.LRUCache(maxsize=4096)

    @classmethod
    def make_static_url(cls, settings: dict, path: str, include_version: bool = True) -> str:
        if not settings.get("static_hash_cache", True):
            return super().make_static_url(settings, path, include_version)
        key = (settings.get("static_path"), settings.get("static_url_prefix"), path, include_version)
        url = cls._urls.get(key)
        if url is None:
            url = cls._urls[key] = super().make_static_url(settings, path, include_version)
        return url

    @classmethod
    def get_content_version(cls, abspath: str) -> str:
        # Tornado's is a whole SHA-512 in hex, 128 characters, three times in every cover: a
        # listing of twelve books carried 5 KB of them. 64 bits tell one version from the next.
        return super().get_content_version(abspath)[:STATIC_VERSION_LENGTH]

    def set_default_headers(self) -> None:
        set_security_headers(self, NOTHING_INLINE_POLICY)

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        if "\x00" in absolute_path:
            raise tornado.web.HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)


class CoverFiles(StaticFiles):
    """Uploaded covers, from the data folder (nginx serves them itself in production).

    A cover's name is its content's hash, so it never changes meaning: browsers keep it for a year.
    """

    def initialize(self) -> None:  # type: ignore[override]
        super().initialize(path=str(self.settings["shop_settings"].covers_dir))

    def get_cache_time(self, path: str, modified, mime_type: str) -> int:
        return self.CACHE_MAX_AGE

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", f"public, max-age={self.CACHE_MAX_AGE}, immutable")
