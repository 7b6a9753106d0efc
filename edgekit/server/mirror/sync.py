"""Keeping the mirror in step with the database: after every commit that changes signed metadata
(the app calls ``MirrorSyncer.changed``) and, as a safety net, every ``mirror_sync_seconds`` (replicas
on other machines, ``rotate-keys`` and the expiry refresher of another process change it too).

The timestamp is read first: everything it points at was committed with it or before, so the
files read after it always complete the chain, whatever the database's isolation level.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy import func, select, tuple_

from ..db import Database, Release, TufMetadata
from ..repository import metadata as tuf_metadata
from ..repository.releases import BlobStore
from . import writer

LOG = logging.getLogger("edgekit.server.mirror")


def archive_path(target_path: str, sha256: str) -> str:
    """Where a release's archive lives under targets/: the consistent-snapshot name devices ask for."""
    directory, _, name = target_path.rpartition("/")
    return f"{directory}/{sha256}.{name}" if directory else f"{sha256}.{name}"


def sync_mirror(directory: Path, database: Database, blobs: BlobStore) -> writer.MirrorWrite:
    """Bring the mirror in ``directory`` up to the database's newest signed metadata and releases."""
    writer.prepare(directory)
    have = writer.existing_metadata(directory)
    with database.session() as session:
        timestamp = tuf_metadata.latest(session, "timestamp").data
        versions = session.execute(select(TufMetadata.role, TufMetadata.version).where(TufMetadata.role != "timestamp")).all()
        wanted = [(role, version) for role, version in versions if f"{version}.{role}.json" not in have or (role, version) == ("root", 1)]
        files = {}
        for start in range(0, len(wanted), 500):
            rows = session.execute(select(TufMetadata.role, TufMetadata.version, TufMetadata.data)
                                   .where(tuple_(TufMetadata.role, TufMetadata.version).in_(wanted[start:start + 500])))
            files.update({f"{version}.{role}.json": data for role, version, data in rows})
        releases = session.execute(select(Release.target_path, Release.sha256)).all()
    archives = {archive_path(path, sha256): blobs.path(sha256) for path, sha256 in releases}
    return writer.write(directory, files, archives, timestamp)


def newest_versions(database: Database) -> tuple[tuple[str, int], ...]:
    """Each role's newest version: what a sync is due for when it changes (one small query)."""
    with database.session() as session:
        return tuple(sorted(session.execute(select(TufMetadata.role, func.max(TufMetadata.version)).group_by(TufMetadata.role)).all()))


class MirrorSyncer:
    """A thread that syncs the mirror when told the metadata changed, and every ``every`` seconds
    if the database's newest versions moved since its last sync. A failed sync is logged and retried."""

    def __init__(self, directory: Path, database: Database, blobs: BlobStore, every: float) -> None:
        self.directory, self.database, self.blobs, self.every = directory, database, blobs, every
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._synced: tuple[tuple[str, int], ...] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="edgekit-mirror", daemon=True)
        self._thread.start()

    def changed(self) -> None:
        """Called after a commit that changed signed metadata: sync now (without blocking the caller)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def sync_once(self, force: bool = False) -> writer.MirrorWrite | None:
        versions = newest_versions(self.database)
        if not force and versions == self._synced:
            return None
        result = sync_mirror(self.directory, self.database, self.blobs)
        self._synced = versions  # read before the sync: a change during it is caught next round
        if result.missing_archives:
            LOG.warning("mirror %s: archives missing from the blob store: %s", self.directory, ", ".join(result.missing_archives[:5]))
        return result

    def _run(self) -> None:
        force = True  # the first round writes whatever is missing, whatever this process believes
        while not self._stop.is_set():
            try:
                self.sync_once(force)
                failed = False
            except Exception:
                LOG.exception("syncing the mirror %s failed; retrying in %s s", self.directory, self.every)
                failed = True
            woke = self._wake.wait(self.every)
            self._wake.clear()  # a change committed after this is caught by the sync below or the next wake
            force = woke or failed
