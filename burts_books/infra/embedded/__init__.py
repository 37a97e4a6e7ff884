"""The embedded engine: a MongoDB-compatible store inside the shop's process, durable on local disk.

mongomock (through mongomock-motor) answers queries in memory. This package
adds what a database needs and mongomock lacks:

- durability: every write is journaled and fdatasynced before it returns,
  writes in flight sharing one fdatasync (journal.py, commit.py); a write
  that cannot be made durable is undone and raises StoreWriteFailed;
- compaction of the journal into a snapshot, in a subprocess working from
  the files alone, so the event loop never waits on it (snapshot.py,
  compaction.py);
- equality indexes, so that point lookups don't scan (indexes.py, engine.py).

store.py opens, loads and closes the store; journaled.py is the Motor API the
rest of the shop sees, whose writes go through changes.py (what a write
changed, to journal or undo it).

On disk, in the data dir:

    embedded-store.lock     flock held by the process that owns the store
    embedded-store/         0700
      snapshot              every collection as of the end of journal segment N (0600)
      journal-<n>           the writes after it, segments n > N, replayed in order (0600)
"""

from .errors import StoreBusy, StoreDamaged, StoreWriteFailed
from .store import EmbeddedStore

__all__ = ["EmbeddedStore", "StoreBusy", "StoreDamaged", "StoreWriteFailed"]
