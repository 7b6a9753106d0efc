"""The TUF repository: root, targets, snapshot and timestamp metadata (python-tuf), with consistent
snapshots. Every signed version is stored in the database as the exact bytes served, so any
server process serves the same files and a CDN may cache them.

Writers hold the database's metadata lock: (re)signing targets bumps targets, snapshot and
timestamp together, in one transaction; a crash leaves the previous versions in place.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from securesystemslib.signer import CryptoSigner
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp

from ...errors import BadInput
from ..db import Database, TufMetadata
from ..settings import ServerSettings
from . import keys as signing_keys

MAX_VERSION = 2**31 - 1
METADATA_NAME = re.compile(r"^(?:(?P<version>[1-9][0-9]{0,9})\.(?P<role>root|targets|snapshot)|(?P<timestamp>timestamp))\.json$")


def _expiry(seconds: float) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


def _store(session: Session, metadata: Metadata) -> bytes:
    data = metadata.to_bytes()
    role = metadata.signed.type
    session.add(TufMetadata(role=role, version=metadata.signed.version, data=data,
                            expires=metadata.signed.expires.replace(tzinfo=None)))
    return data


def latest(session: Session, role: str) -> TufMetadata:
    version = session.scalar(select(func.max(TufMetadata.version)).where(TufMetadata.role == role))
    if version is None:
        raise BadInput(f"the repository has no {role} metadata", "create the server home with edgekit server init")
    return session.get(TufMetadata, (role, version))


def load(session: Session, role: str) -> Metadata:
    return Metadata.from_bytes(latest(session, role).data)


def read_file(session: Session, name: str) -> bytes | None:
    """The bytes of a metadata file as a consistent-snapshot client asks for it, or None."""
    match = METADATA_NAME.match(name)
    if match is None:
        return None
    if match["timestamp"]:
        row = latest(session, "timestamp")
    elif int(match["version"]) > MAX_VERSION:
        return None  # beyond the database's integers: no such version
    else:
        row = session.get(TufMetadata, (match["role"], int(match["version"])))
    return None if row is None else row.data


class Repository:
    """Signing operations on the repository in ``settings.home``."""

    def __init__(self, settings: ServerSettings, database: Database) -> None:
        self.settings = settings
        self.database = database

    def _signer(self, role: str) -> CryptoSigner:
        return signing_keys.read_signer(self.settings.keys_dir, role)

    def create(self, root_dir: Path, root_keys: int, threshold: int) -> None:
        """Root v1 (``root_keys`` keys, ``threshold`` of them needed), online keys, empty targets."""
        if not 1 <= threshold <= root_keys:
            raise BadInput(f"a root threshold of {threshold} with {root_keys} root keys", "use 1 <= --root-threshold <= --root-keys")
        root = Root(expires=_expiry(self.settings.root_expiry_days * 86_400), consistent_snapshot=True)
        root_signers = []
        for index in range(root_keys):
            signer = signing_keys.generate()
            signing_keys.write_signer(root_dir, f"root-{index + 1}", signer)
            root.add_key(signer.public_key, "root")
            root_signers.append(signer)
        root.roles["root"].threshold = threshold
        for role in signing_keys.ONLINE_ROLES:
            signer = signing_keys.generate()
            signing_keys.write_signer(self.settings.keys_dir, role, signer)
            root.add_key(signer.public_key, role)
        root_metadata = Metadata(root)
        for signer in root_signers:
            root_metadata.sign(signer, append=True)
        with self.database.session() as session:
            self.database.take_metadata_lock(session)
            _store(session, root_metadata)
            targets = Metadata(Targets(expires=_expiry(self.settings.targets_expiry_days * 86_400)))
            targets.sign(self._signer("targets"))
            self._sign_snapshot_and_timestamp(session, _store(session, targets), targets.signed.version)

    def update_targets(self, session: Session, build: Callable[[], dict[str, TargetFile]]) -> int:
        """Replace the targets with ``build()`` and re-sign targets, snapshot and timestamp. The
        caller's transaction holds the metadata lock. Returns the new targets version."""
        targets = load(session, "targets")
        targets.signed.targets = build()
        targets.signed.version += 1
        targets.signed.expires = _expiry(self.settings.targets_expiry_days * 86_400)
        targets.sign(self._signer("targets"))
        self._sign_snapshot_and_timestamp(session, _store(session, targets), targets.signed.version)
        return targets.signed.version

    def _sign_snapshot_and_timestamp(self, session: Session, targets_bytes: bytes, targets_version: int) -> None:
        snapshot = _load_or_new(session, "snapshot", Snapshot)
        snapshot.signed.meta["targets.json"] = MetaFile(targets_version, len(targets_bytes),
                                                        {"sha256": hashlib.sha256(targets_bytes).hexdigest()})
        snapshot.signed.expires = _expiry(self.settings.snapshot_expiry_days * 86_400)
        snapshot.sign(self._signer("snapshot"))
        self._sign_timestamp(session, _store(session, snapshot), snapshot.signed.version)

    def _sign_timestamp(self, session: Session, snapshot_bytes: bytes, snapshot_version: int) -> None:
        timestamp = _load_or_new(session, "timestamp", Timestamp)
        timestamp.signed.snapshot_meta = MetaFile(snapshot_version, len(snapshot_bytes),
                                                  {"sha256": hashlib.sha256(snapshot_bytes).hexdigest()})
        timestamp.signed.expires = _expiry(self.settings.timestamp_expiry_seconds)
        timestamp.sign(self._signer("timestamp"))
        _store(session, timestamp)

    def refresh_expiring(self, force: bool = False) -> list[str]:
        """Re-sign what expires soon: the timestamp within its refresh window, snapshot and targets
        within the last third of their lifetime (a quiet fleet must not find them expired).
        Returns the roles re-signed (re-signing targets re-signs snapshot and timestamp too)."""
        with self.database.session() as session:
            if not force and not self._due(session):
                return []
            self.database.take_metadata_lock(session)
            due = ["timestamp"] if force else self._due(session)  # another process may have done it meanwhile
            if "targets" in due:
                targets = load(session, "targets")
                self.update_targets(session, lambda: targets.signed.targets)
            elif "snapshot" in due:
                current = latest(session, "targets")
                self._sign_snapshot_and_timestamp(session, current.data, current.version)
            elif "timestamp" in due:
                snapshot = latest(session, "snapshot")
                self._sign_timestamp(session, snapshot.data, snapshot.version)
            return due

    def _due(self, session: Session) -> list[str]:
        now = datetime.now(UTC).replace(tzinfo=None)
        windows = {"timestamp": self.settings.timestamp_refresh_seconds,
                   "snapshot": self.settings.snapshot_expiry_days * 86_400 / 3,
                   "targets": self.settings.targets_expiry_days * 86_400 / 3}
        return [role for role, seconds in windows.items() if latest(session, role).expires - now < timedelta(seconds=seconds)]

    def rotate(self, role: str, root_dir: Path) -> dict[str, object]:
        """Replace ``role``'s key(s): a new root version signed by the old root threshold and the
        new one; the rotated role is then re-signed with its new key (with the versions after it)."""
        if role not in ("root", *signing_keys.ONLINE_ROLES):
            raise BadInput(f"unknown role {role!r}", "rotate one of root, targets, snapshot, timestamp")
        old_names = signing_keys.root_key_names(root_dir)
        if not old_names:
            raise BadInput(f"{root_dir}: no root keys (root-*.pem)", "pass the offline root key directory with --root-keys")
        old_signers = [signing_keys.read_signer(root_dir, name) for name in old_names]
        with self.database.session() as session:
            self.database.take_metadata_lock(session)
            current = load(session, "root")
            foreign = [name for name, signer in zip(old_names, old_signers, strict=True)
                       if signer.public_key.keyid not in current.signed.roles["root"].keyids]
            if foreign:  # checked before any key file moves
                raise BadInput(f"{root_dir}: {', '.join(foreign)} is not a key of the current root",
                               "keep only the current root keys in the directory")
            new = copy.deepcopy(current)
            new.signatures.clear()
            root = new.signed
            threshold = root.roles["root"].threshold
            new_signers = old_signers
            if role == "root":
                retired = root_dir / "retired" / f"v{root.version}"
                for name, signer in zip(old_names, old_signers, strict=True):
                    root.revoke_key(signer.public_key.keyid, "root")
                    retired.mkdir(parents=True, exist_ok=True)
                    for suffix in (".pem", ".pub.json"):
                        (root_dir / f"{name}{suffix}").rename(retired / f"{name}{suffix}")
                new_signers = []
                for index in range(len(old_names)):
                    signer = signing_keys.generate()
                    signing_keys.write_signer(root_dir, f"root-{index + 1}", signer)
                    root.add_key(signer.public_key, "root")
                    new_signers.append(signer)
            else:
                for keyid in list(root.roles[role].keyids):
                    root.revoke_key(keyid, role)
                signer = signing_keys.generate()
                signing_keys.write_signer(self.settings.keys_dir, role, signer)
                root.add_key(signer.public_key, role)
            root.version += 1
            root.expires = _expiry(self.settings.root_expiry_days * 86_400)
            signing = {signer.public_key.keyid: signer for signer in [*old_signers[:threshold], *new_signers[:threshold]]}
            for signer in signing.values():
                new.sign(signer, append=True)
            try:  # exactly what a client checks: the old root's threshold, then the new root's own
                current.signed.verify_delegate("root", new.signed_bytes, new.signatures)
                new.signed.verify_delegate("root", new.signed_bytes, new.signatures)
            except UnsignedMetadataError as exc:
                raise BadInput(f"the new root would not verify ({exc})",
                               f"pass a --root-keys directory with at least {threshold} of the current root keys") from exc
            _store(session, new)
            if role == "targets":
                targets = load(session, "targets")
                self.update_targets(session, lambda: targets.signed.targets)
            elif role == "snapshot":
                self._sign_snapshot_and_timestamp(session, latest(session, "targets").data, latest(session, "targets").version)
            elif role == "timestamp":
                snapshot = latest(session, "snapshot")
                self._sign_timestamp(session, snapshot.data, snapshot.version)
            return {"role": role, "root_version": root.version}


def _load_or_new(session: Session, role: str, kind: type) -> Metadata:
    if session.scalar(select(func.count()).where(TufMetadata.role == role)):
        metadata = load(session, role)
        metadata.signed.version += 1
        return metadata
    return Metadata(kind())
