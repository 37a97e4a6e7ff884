"""Staff import a catalog file from the shop: upload it, watch it run, read what was rejected.

The upload is streamed to a file in the data folder as it arrives (files are
larger than the 1 MB every other request may send, and are never held in
memory), and only a staff member's (anyone else's is dropped as it arrives,
see mixins.take_upload); the XSRF token is checked once the body, which
carries it, has arrived.
"""

import re
import urllib.parse
from pathlib import Path

import tornado.web
from streaming_form_data import StreamingFormDataParser
from streaming_form_data.parser import ParseFailedException
from streaming_form_data.targets import FileTarget, ValueTarget

from ..accounts import known_as
from ..infra.errors import Invalid
from .base import BaseHandler, staff_only
from .mixins import FlashMixin, take_upload

MAX_UPLOAD = 64 * 1024 * 1024  # a 20,000-book CSV is about 20 MB, its ONIX feed about 45 MB
UPLOAD_TIMEOUT = 600.0  # seconds for staff to send one (--body-timeout-seconds is for forms): 64 MB at 1 Mbit/s
PROGRESS_FIELDS = ("status", "total", "added", "updated", "unchanged", "rejected")
_NOT_IN_A_QUOTED_NAME = re.compile(r'[^\x20-\x7e]|["\\]')


def attachment(filename: str) -> str:
    """A Content-Disposition for a download named `filename` (an upload's name, in any script): the
    name itself as RFC 5987 spells it, and for clients that read only `filename`, an ASCII likeness."""
    likeness = _NOT_IN_A_QUOTED_NAME.sub("_", filename)
    return f"attachment; filename=\"{likeness}\"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"


@tornado.web.stream_request_body
class ImportsHandler(FlashMixin):
    """GET: the upload form and the recent imports. POST: start one."""

    _body_arrived = False
    _upload: Path | None = None

    async def prepare(self):
        await super().prepare()
        if self.request.method == "POST":
            take_upload(self.request, MAX_UPLOAD, UPLOAD_TIMEOUT)
            if self.is_staff:
                self._start_upload()

    def _start_upload(self) -> None:
        self._upload = self.services.imports.upload_path()
        self._file = FileTarget(str(self._upload))
        self._token = ValueTarget()
        self._unreadable = False
        try:
            self._form = StreamingFormDataParser(self.request.headers)
        except ParseFailedException:  # not multipart/form-data: said on the form once the body has arrived
            self._unreadable = True
            return
        self._form.register("file", self._file)
        self._form.register("_xsrf", self._token)

    def data_received(self, chunk: bytes) -> None:
        if self._upload is None or self._unreadable:  # not staff: dropped
            return
        try:
            self._form.data_received(chunk)
        except ParseFailedException:
            self._unreadable = True  # said on the form once the body has arrived

    def on_finish(self) -> None:
        self._discard_upload()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._discard_upload()

    def _discard_upload(self) -> None:
        """Delete what arrived unless an import took it over."""
        if self._upload is not None:
            self._upload.unlink(missing_ok=True)
            self._upload = None

    def check_xsrf_cookie(self) -> None:
        # Called before the body arrives (by Tornado) and again after it has (by post()).
        if self._body_arrived:
            super().check_xsrf_cookie()

    @staff_only
    async def get(self):
        await self.show_form()

    async def show_form(self, error: str = "", status: int = 200) -> None:
        self.set_status(status)
        self.render("staff/imports.html", error=error, imports=await self.services.imports.recent())

    @staff_only
    async def post(self):
        assert self._upload is not None  # prepare started it for staff
        self.request.arguments["_xsrf"] = [self._token.value]
        self._body_arrived = True
        self.check_xsrf_cookie()
        try:
            if self._unreadable:
                raise Invalid("The upload could not be read as a form; choose the file and send it again.")
            if not self._file.multipart_filename or not self._upload.stat().st_size:
                raise Invalid("Choose a CSV or ONIX file to import.")
            upload, self._upload = self._upload, None  # the import owns the file from here
            job_id = await self.services.imports.start(upload, self._file.multipart_filename,
                                                       known_as(self.current_user))
        except Invalid as exc:
            await self.show_form(str(exc), status=400)
            return
        self.redirect(self.reverse_url("staff_import", job_id), status=303)


class ImportHandler(FlashMixin):
    """One import: its progress page, or the figures as JSON for the page's script."""

    @staff_only
    async def get(self, job_id):
        job = await self.services.imports.get(job_id)
        if self.wants_json():
            self.write_json({name: job[name] for name in PROGRESS_FIELDS})
            return
        self.render("staff/import.html", job=job, rejects=await self.services.imports.rejects(job))


class RejectsHandler(BaseHandler):
    """The rejected records of an import, as the CSV file they were written to."""

    @staff_only
    async def get(self, job_id):
        job = await self.services.imports.get(job_id)
        content = await self.services.imports.rejects_file(job)
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition", attachment(f'{job["filename"]}.rejects.csv'))
        self.write(content)
