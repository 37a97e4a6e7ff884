"""Imports staff start from the shop: an uploaded file, imported in the background.

Each job is a document in `imports` that the import updates after every
batch, so a progress page served by any process shows the same figures.
The uploaded file and its rejects file stay in the data folder's imports/
(owner-only), where staff can download the rejects.
"""

from __future__ import annotations

import asyncio
import csv
import datetime
import logging
import os
import re
import secrets
from pathlib import Path

import pymongo

from .catalog import Catalog
from .importer import Importer, ImportFile, Progress, RejectsFile
from .infra.clock import utcnow
from .infra.db import Database
from .infra.errors import BadImportFile, Invalid, NotFound

log = logging.getLogger(__name__)

RECENT = 10
REJECTS_SHOWN = 200
# A running import notes its progress after every batch (well under a minute apart); one silent
# for this long died with its process, and is marked interrupted so nobody waits on it forever.
STALE_AFTER = datetime.timedelta(minutes=5)
_UNSAFE_IN_NAME = re.compile(r"[^\w.-]+")


class ImportJobs:
    def __init__(self, db: Database, catalog: Catalog, folder: Path):
        self.jobs = db.imports
        self.catalog = catalog
        self.folder = folder
        self._running: dict[str, tuple[Importer, asyncio.Task]] = {}

    def upload_path(self) -> Path:
        """Where an upload on its way may be written (owner-only); hand it to `start` once complete."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.folder / f"upload-{secrets.token_urlsafe(12)}.part"
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return path

    async def start(self, upload: Path, filename: str, editor: str) -> str:
        """Check the uploaded file and start importing it; returns the job's id.

        Invalid for a file that can't be read, which is then deleted.
        """
        job_id = secrets.token_urlsafe(12)
        name = _UNSAFE_IN_NAME.sub("_", Path(filename).name)[-80:] or "upload"
        path = self.folder / f"{job_id}-{name}"
        try:
            source = await asyncio.get_running_loop().run_in_executor(None, _renamed_and_opened, upload, path, name)
        except BadImportFile as exc:
            path.unlink()
            raise Invalid(str(exc)) from None
        rejects = RejectsFile(path.with_name(path.name + ".rejects.csv"), source.numbered_by)
        await self.jobs.insert_one({
            "_id": job_id, "filename": name, "editor": editor, "status": "running", "total": source.total,
            "added": 0, "updated": 0, "unchanged": 0, "rejected": 0,
            "started_at": utcnow(), "heartbeat_at": utcnow(), "finished_at": None,
            "rejects_file": str(rejects.path),
        })
        importer = Importer(self.catalog, f"import of {name} by {editor}", rejects,
                            on_batch=lambda progress: self._note(job_id, progress))
        task = asyncio.ensure_future(self._run(job_id, importer, source, rejects))
        self._running[job_id] = (importer, task)
        return job_id

    async def _note(self, job_id: str, progress: Progress) -> None:
        await self.jobs.update_one({"_id": job_id}, {"$set": {**_counts(progress), "heartbeat_at": utcnow()}})

    async def abandon_stale(self, silent_for: datetime.timedelta = STALE_AFTER) -> int:
        """Mark imports whose process stopped mid-way (no progress for `silent_for`) interrupted."""
        now = utcnow()
        result = await self.jobs.update_many(
            {"status": "running", "heartbeat_at": {"$lt": now - silent_for}},
            {"$set": {"status": "interrupted", "finished_at": now}},
        )
        return result.modified_count

    async def _run(self, job_id: str, importer: Importer, source: ImportFile, rejects: RejectsFile) -> None:
        status = "failed"
        try:
            progress = await importer.run(source)
            status = "interrupted" if progress.interrupted else "done"
        except Exception:
            log.exception("import %s failed", job_id)
        finally:
            rejects.close()
            self._running.pop(job_id, None)
            await self.jobs.update_one({"_id": job_id}, {"$set": {
                **_counts(importer.progress), "status": status, "finished_at": utcnow(),
                "rejects_file": str(rejects.path) if rejects.written else None,
            }})

    async def get(self, job_id: str) -> dict:
        job = await self.jobs.find_one({"_id": job_id})
        if job is None:
            raise NotFound("There is no import with this number.")
        return job

    async def recent(self) -> list[dict]:
        return await self.jobs.find().sort("started_at", pymongo.DESCENDING).limit(RECENT).to_list(RECENT)

    async def rejects(self, job: dict, limit: int = REJECTS_SHOWN) -> list[list[str]]:
        """The first rejected records (header first), as the rejects file holds them."""
        if not job.get("rejects_file") or job["status"] == "running":
            return []
        try:
            return await asyncio.get_running_loop().run_in_executor(None, _first_rows, job["rejects_file"], limit + 1)
        except FileNotFoundError:  # see rejects_file
            return []

    async def rejects_file(self, job: dict) -> bytes:
        """The whole rejects file of a finished import; NotFound when it rejected nothing."""
        if not job.get("rejects_file") or job["status"] == "running":
            raise NotFound("This import rejected nothing (or is still running).")
        try:
            return await asyncio.get_running_loop().run_in_executor(None, Path(job["rejects_file"]).read_bytes)
        except FileNotFoundError:
            # An import whose process died before it rejected anything, or a data folder restored from a
            # backup, which leaves imports/ out (deploy/README.md).
            raise NotFound("The rejected records of this import are no longer kept.") from None

    async def close(self) -> None:
        """Stop running imports after their current batch (what they finished is kept)."""
        for importer, _ in self._running.values():
            importer.stop()
        tasks = [task for _, task in self._running.values()]
        if tasks:
            await asyncio.wait(tasks)


def _renamed_and_opened(upload: Path, path: Path, name: str) -> ImportFile:
    upload.rename(path)
    return ImportFile.open(path, name)


def _first_rows(path: str, count: int) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [row for row, _ in zip(csv.reader(handle), range(count), strict=False)]


def _counts(progress: Progress) -> dict:
    return {"added": progress.added, "updated": progress.updated, "unchanged": progress.unchanged,
            "rejected": progress.rejected}
