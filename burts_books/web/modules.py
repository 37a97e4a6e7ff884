"""Tornado UI modules, rendered through the same Jinja2 path as pages."""

import tornado.web


class Book(tornado.web.UIModule):
    """A book as the Recommended Reading page shows it: cover, details, description.

    What it shows depends only on the book's fields (named by its
    catalog_version), the staff Edit link and the reader's locale, so the
    rendered fragment is kept (settings["fragments"], a bounded LRU) and reused
    until the book changes. Nothing about the visitor goes in it.
    """

    def render(self, book: dict, show_edit: bool = False, heading: str = "h2") -> bytes:
        key = ("book", book["isbn"], book.get("catalog_version", 0), show_edit, heading, self.locale.code)
        fragments = self.handler.settings["fragments"]
        html = fragments.get(key)
        if html is None:
            html = fragments[key] = self.render_string("modules/book.html", book=book, show_edit=show_edit,
                                                       heading=heading)
        return html

    def css_files(self) -> str:
        return "css/book.css"
