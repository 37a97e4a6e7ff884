"""Staff import a catalog file from the shop: upload it, watch it run, read what was rejected.

The upload is streamed (files are larger than the 1 MB every other request
may send), and only a staff member's: the size limit is raised once the
session is known, and the XSRF token is checked once the body, which
carries it, has arrived.
"""

import asyncio
from pathlib import Path

import tornado.web

from ..infra.errors import Invalid
from .base import BaseHandler, staff_only
from .mixins import StaffUpload

MAX_UPLOAD = 64 * 1024 * 1024  # a 20,000-book CSV is about 20 MB, its ONIX feed about 45 MB
UPLOAD_TIMEOUT = 600.0  # seconds for staff to send one (--body-timeout-seconds is for forms): 64 MB at 1 Mbit/s
PROGRESS_FIELDS = ("status", "total", "added", "updated", "unchanged", "rejected")


class ImportsHandler(StaffUpload):
    """GET: the upload form and the recent imports. POST: start one."""

    upload_timeout = UPLOAD_TIMEOUT

    def upload_limit(self) -> int:
        return MAX_UPLOAD

    @staff_only
    async def get(self):
        await self.show_form()

    async def show_form(self, error: str = "", status: int = 200) -> None:
        self.set_status(status)
        self.render("staff/imports.html", error=error, imports=await self.services.imports.recent())

    @staff_only
    async def post(self):
        self.read_form()
        uploads = self.request.files.get("file")
        try:
            if not uploads or not uploads[0]["body"]:
                raise Invalid("Choose a CSV or ONIX file to import.")
            job_id = await self.services.imports.start(
                uploads[0]["body"], uploads[0]["filename"], self.current_user["email"])
        except Invalid as exc:
            await self.show_form(str(exc), status=400)
            return
        self.redirect(self.reverse_url("staff_import", job_id), status=303)


class ImportHandler(BaseHandler):
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
        if not job.get("rejects_file") or job["status"] == "running":
            raise tornado.web.HTTPError(404, "This import rejected nothing (or is still running).")
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition", f'attachment; filename="{job["filename"]}.rejects.csv"')
        self.write(await asyncio.get_running_loop().run_in_executor(None, Path(job["rejects_file"]).read_bytes))
