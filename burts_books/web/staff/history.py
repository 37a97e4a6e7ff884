"""The change history: every change to the catalog and its stock, filtered and paged."""

import datetime

from ... import isbn as isbn_codes
from ...history import KINDS, Filters
from ...infra.errors import ValidationError
from ..base import staff_only
from ..mixins import FlashMixin, SearchMixin

FILTERS = ("isbn", "kind", "who", "since", "until")


def _day(raw: str, name: str, errors: dict) -> datetime.datetime | None:
    if not raw:
        return None
    try:
        return datetime.datetime.strptime(raw, "%Y-%m-%d")
    except ValueError:
        errors[name] = "Give a date like 2026-12-01."
        return None


def parse_filters(values: dict[str, str]) -> Filters:
    """The filters the history form sent; ValidationError names each bad one."""
    errors: dict[str, str] = {}
    isbn = ""
    if values["isbn"]:
        try:
            isbn = isbn_codes.normalize(values["isbn"])
        except isbn_codes.InvalidISBN:
            errors["isbn"] = "Give a valid ISBN-10 or ISBN-13."
    if values["kind"] and values["kind"] not in KINDS:
        errors["kind"] = "Choose a kind of change from the list."
    since = _day(values["since"], "since", errors)
    until = _day(values["until"], "until", errors)
    if since and until and until < since:
        errors["until"] = "The end date comes before the start date."
    if errors:
        raise ValidationError(errors)
    # The end of the day `until`: none after the calendar's last day, which nothing comes after.
    end = until + datetime.timedelta(days=1) if until and until.date() < datetime.date.max else None
    return Filters(isbn, values["kind"], values["who"].strip(), since, end)


class HistoryHandler(SearchMixin, FlashMixin):
    @staff_only
    async def get(self):
        values = {name: self.get_argument(name, "").strip()[:200] for name in FILTERS}
        page = self.page_argument()
        try:
            filters = parse_filters(values)
        except ValidationError as exc:
            self.set_status(400)
            self.render("staff/history.html", values=values, errors=exc.errors, changes=None, titles={}, kinds=KINDS)
            return
        changes = await self.services.history.find(filters, page)
        titles = await self.services.catalog.titles({entry["isbn"] for entry in changes.items if "isbn" in entry})
        self.render("staff/history.html", values=values, errors={}, changes=changes, titles=titles, kinds=KINDS)
