"""Backups of the embedded store, taken while a server writes to it, and restoring them.

A backup reads the store's files, never a server's memory, so it needs no lock
and works whether a server runs or not. It reads the snapshot (a compaction
replaces it whole, never in place), then the journal segments after it in
order. Every journal record is one whole write, appended in order, so the
snapshot plus the intact records read from the segments is the store as it
was at one moment: every write up to some point, none after it.

Two races are handled:
- a segment is read only as far as it was written when read; the segments
  after it are read only if the next one existed before it was read (a new
  segment starts after the one before is sealed), so no write is skipped
  while a later one is kept;
- a compaction finishing meanwhile deletes segments its new snapshot holds:
  the backup finds one missing and starts again from the new snapshot.

The backup is one file, a snapshot in the store's own format; restoring
writes it into an empty store folder, which the next start reads like a
freshly compacted store. The uploaded covers the books name are files in
the data folder, not documents: they are copied beside it (covers/).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import StoreDamaged
from .files import FILE_MODE, FOLDER_MODE, sync_folder
from .journal import apply_segment, segment_numbers, segment_path
from .lock import StoreLock
from .records import State
from .snapshot import read_snapshot, snapshot_path, write_snapshot

ATTEMPTS = 10  # compactions that may finish during one backup before it gives up
COVERS = "covers"  # the backup's copy of the data folder's covers/


class BackupFailed(Exception):
    """The backup or restore could not be made; the message says why and what to do."""


class _Moved(Exception):
    """A compaction replaced the files being read: start again."""


def read_consistent(folder: Path) -> State:
    """The store in `folder` as it was at one moment while this ran (see above)."""
    if not folder.is_dir():
        raise BackupFailed(f"there is no embedded store in {folder}")
    for _ in range(ATTEMPTS):
        try:
            return _read_once(folder)
        except _Moved:
            continue
    raise BackupFailed(f"the store in {folder} was compacted {ATTEMPTS} times during the backup; try again")


def _read_once(folder: Path) -> State:
    snapshot = snapshot_path(folder)
    try:
        state, through = read_snapshot(snapshot) if snapshot.exists() else ({}, 0)
    except StoreDamaged:
        if not snapshot.exists():  # replaced between the two looks
            raise _Moved from None
        raise
    number = through + 1
    while True:
        sealed = segment_path(folder, number + 1).exists()
        path = segment_path(folder, number)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            if number == through + 1 and not segment_numbers(folder) and snapshot_unchanged(snapshot, through):
                return state  # a store that has never been written to
            raise _Moved from None
        apply_segment(state, path, data, last=not sealed)  # only the segment being written may end torn
        if not sealed:
            return state
        number += 1


def snapshot_unchanged(snapshot: Path, through: int) -> bool:
    return (read_snapshot(snapshot)[1] if snapshot.exists() else 0) == through


def backup(store: Path, target: Path) -> int:
    """Write a consistent copy of the store in `store` to `target`/snapshot; returns the documents copied."""
    state = read_consistent(store)
    target.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    write_snapshot(snapshot_path(target), state, through=0)
    return sum(len(collection.documents) for collection in state.values())


def restore(source: Path, store: Path, *, replace: bool) -> int:
    """Make the store in `store` the backup in `source`; refuses a store that has data unless `replace`.

    Takes the store's lock, so a running server (which holds it) is never written under.
    """
    state, _ = read_snapshot(snapshot_path(source))  # the whole backup is checked before anything is touched
    store.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    lock = StoreLock(store.with_suffix(".lock"), store)
    lock.acquire()
    try:
        store.mkdir(mode=FOLDER_MODE, exist_ok=True)
        existing = list(store.iterdir())
        if existing and not replace:
            raise BackupFailed(f"{store} already holds a store; restore with --replace to overwrite it")
        for path in existing:
            path.unlink()
        write_snapshot(snapshot_path(store), state, through=0)
    finally:
        lock.release()
    return sum(len(collection.documents) for collection in state.values())


def back_up_covers(covers: Path, target: Path) -> int:
    """Copy the uploaded covers in `covers` to `target`/covers; returns how many there are.

    Run after `backup`: a cover is written whole before any book names it, and is never changed or
    deleted (its name is its content's hash), so every cover the copied store names is there.
    """
    return _copy_covers(covers, target / COVERS)


def restore_covers(source: Path, covers: Path) -> int:
    """Copy the covers of the backup in `source` into the data folder's `covers`; returns how many."""
    return _copy_covers(source / COVERS, covers)


def _copy_covers(source: Path, target: Path) -> int:
    if not source.is_dir():
        return 0  # no cover uploaded yet, or a backup made before backups kept covers
    target.mkdir(parents=True, exist_ok=True)  # as the shop makes it: nginx serves it
    names = sorted(path.name for path in source.glob("*.webp"))  # not the shop's .tmp files being written
    for name in names:
        if not (target / name).exists():  # if it does, it is the same picture: the name is its content's hash
            copy_whole(source / name, target / name)
    sync_folder(target)
    return len(names)


def copy_secret(source: Path, target: Path) -> None:
    """Copy the cookie secret owner-only, on disk (name and all) before the command says it is done."""
    copy_whole(source, target, FILE_MODE)
    sync_folder(target.parent)


def copy_whole(source: Path, target: Path, mode: int = 0o666) -> None:
    """Copy as the shop writes a cover: a file under its name is whole, even after a crash.
    `mode` is the new file's, less the umask."""
    temporary = target.with_name(f".{target.name}.tmp")
    with open(source, "rb") as reading, os.fdopen(
            os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as writing:
        shutil.copyfileobj(reading, writing)
        writing.flush()
        os.fsync(writing.fileno())
    os.replace(temporary, target)
