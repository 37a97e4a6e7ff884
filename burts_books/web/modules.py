"""Tornado UI modules, rendered through the same Jinja2 path as pages."""

import tornado.web


class Book(tornado.web.UIModule):
    """A book as the Recommended Reading page shows it: cover, details, description."""

    def render(self, book: dict, show_edit: bool = False) -> bytes:
        return self.render_string("modules/book.html", book=book, show_edit=show_edit)

    def css_files(self) -> str:
        return "css/book.css"
