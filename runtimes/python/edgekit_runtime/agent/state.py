"""The agent's state directory: who the device is, what it trusts, and which model is current.

    identity.json        device id, server URL, profile, tags, model, pin tag (written at enrollment)
    token                the device token (0600)
    root.json            the trusted TUF root the device was provisioned with
    tuf/                 python-tuf's metadata cache
    slots/<sha256>/      unpacked, verified artifacts (one per release ever installed, pruned)
    current, previous    symlinks to slots: switched with a rename, so a crash leaves one or the other
    partial/             a download cut off (by a crash or the network), resumed with an HTTP Range
    incoming/            unpacking in progress (cleared at every start)
    probation.json       the release on probation and until when (written before the switch to it)
    refused.json         releases refused or rolled back from (target -> sha256), not installed again
    unhealthy            written by the application (report_unhealthy): the reason and the model it is about

Every write is atomic (write beside, fsync, rename); the directory is fsync'd after a switch and
after each record a later step relies on.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..atomic import write_atomically
from ..errors import InvalidInput

POINTERS = ("current", "previous")
KEEP_SLOTS = 3  # current, previous and one more: older slots are removed


@dataclass(frozen=True)
class Identity:
    device_id: str
    server: str
    profile: str
    model: str
    tags: tuple[str, ...] = field(default_factory=tuple)
    pin_tag: str | None = None  # how signed pins name this device (None: enrolled before pin tags; learnt at the next cycle)


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class StateDir:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.tuf = self.root / "tuf"
        self.slots = self.root / "slots"
        self.incoming = self.root / "incoming"
        self.partial = self.root / "partial"

    # --- identity ---------------------------------------------------------------------------
    def save_identity(self, identity: Identity, token: str, trusted_root: bytes) -> None:
        for directory in (self.root, self.tuf, self.slots, self.incoming, self.partial):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(self.root / "root.json", trusted_root)
        write_atomically(self.root / "token", token)  # 0600, as every atomic write
        write_atomically(self.root / "identity.json", json.dumps({**asdict(identity), "tags": list(identity.tags)}, indent=2))
        _fsync_directory(self.root)

    def identity(self) -> Identity:
        try:
            document = json.loads((self.root / "identity.json").read_text())
            return Identity(document["device_id"], document["server"], document["profile"], document["model"],
                            tuple(document.get("tags") or ()), document.get("pin_tag"))
        except FileNotFoundError as exc:
            raise InvalidInput(f"{self.root}: the device is not enrolled", "run edgekit-runtime agent enroll first") from exc
        except (OSError, KeyError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{self.root}/identity.json is damaged ({exc.__class__.__name__})", "enroll the device again") from exc

    def learn_pin_tag(self, pin_tag: str) -> Identity:
        """Record the pin tag the server gave a device enrolled before pin tags existed."""
        identity = replace(self.identity(), pin_tag=pin_tag)
        write_atomically(self.root / "identity.json", json.dumps({**asdict(identity), "tags": list(identity.tags)}, indent=2))
        return identity

    def record(self, name: str, document: dict) -> None:
        """A record the next step relies on, durable before that step: written atomically, directory fsync'd."""
        write_atomically(self.root / name, json.dumps(document))
        _fsync_directory(self.root)

    def token(self) -> str:
        return (self.root / "token").read_text().strip()

    def trusted_root(self) -> bytes:
        return (self.root / "root.json").read_bytes()

    # --- slots and the current pointer --------------------------------------------------------
    def slot(self, sha256: str) -> Path:
        return self.slots / sha256

    def pointer(self, name: str) -> Path | None:
        """The slot a pointer names, if it names an existing slot."""
        link = self.root / name
        if not link.is_symlink():
            return None
        target = (self.root / os.readlink(link)).resolve()
        return target if target.is_dir() and target.parent == self.slots.resolve() else None

    def switch(self, slot: Path) -> None:
        """Make ``slot`` current and the old current previous, each with one atomic rename."""
        old = self.pointer("current")
        if old is not None and old != slot.resolve():
            self._point("previous", old)
        self._point("current", slot)
        _fsync_directory(self.root)

    def roll_back(self) -> Path | None:
        """Make previous current again (the failed slot stays on disk for a report); the new current."""
        previous = self.pointer("previous")
        if previous is None:
            return None
        self._point("current", previous)
        (self.root / "previous").unlink(missing_ok=True)
        _fsync_directory(self.root)
        return previous

    def _point(self, name: str, slot: Path) -> None:
        temporary = self.root / f".{name}.tmp"
        temporary.unlink(missing_ok=True)
        os.symlink(os.path.relpath(slot.resolve(), self.root.resolve()), temporary)
        os.replace(temporary, self.root / name)

    def recover(self) -> None:
        """At start: drop half-finished downloads and unpackings, and pointers to missing slots."""
        for directory in (self.tuf, self.slots, self.partial):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.clear_incoming()
        for name in POINTERS:
            link = self.root / name
            if link.is_symlink() and self.pointer(name) is None:
                link.unlink()
            (self.root / f".{name}.tmp").unlink(missing_ok=True)
        if self.pointer("current") is None and self.pointer("previous") is not None:
            self.roll_back()  # a crash took current away: the previous model serves meanwhile

    def clear_incoming(self) -> None:
        shutil.rmtree(self.incoming, ignore_errors=True)
        self.incoming.mkdir(mode=0o700)

    def prune(self) -> None:
        keep = {path for path in (self.pointer(name) for name in POINTERS) if path is not None}
        slots = sorted((path for path in self.slots.iterdir() if path.is_dir()), key=lambda path: path.stat().st_mtime, reverse=True)
        for stale in [slot for slot in slots if slot.resolve() not in keep][max(0, KEEP_SLOTS - len(keep)):]:
            shutil.rmtree(stale, ignore_errors=True)
