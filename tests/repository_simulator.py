"""An in-memory TUF repository of model releases, served over HTTP on 127.0.0.1 (``serve``), so the
device agent runs unmodified against it while attack tests edit, replay, stretch or slow down
exactly the bytes an attacker in the network could. It also records the agent's status reports.

It signs like the update server does (consistent snapshots; targets whose ``custom.edgekit``
carries the release and its rollout rule) with keys it holds, so a test can also play a key thief.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp


def expiry(days: float = 7) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


class RepositorySimulator:
    def __init__(self, root_keys: int = 2, threshold: int = 2) -> None:
        self.signers: dict[str, list[CryptoSigner]] = {role: [CryptoSigner.generate_ed25519()] for role in ("targets", "snapshot", "timestamp")}
        self.signers["root"] = [CryptoSigner.generate_ed25519() for _ in range(root_keys)]
        root = Root(expires=expiry(365), consistent_snapshot=True)
        for role, signers in self.signers.items():
            for signer in signers:
                root.add_key(signer.public_key, role)
        root.roles["root"].threshold = threshold
        self.root = Metadata(root)
        self.targets = Metadata(Targets(expires=expiry(30)))
        self.snapshot = Metadata(Snapshot(expires=expiry(30)))
        self.timestamp = Metadata(Timestamp(expires=expiry(1)))
        self.files: dict[str, bytes] = {}  # served path -> bytes
        self.artifacts: dict[str, bytes] = {}  # sha256 -> archive
        self.requests: list[str] = []
        self.reports: list[dict] = []  # the agent's status reports, in order
        self.ranges: list[tuple[str, int]] = []  # (path, first byte) of every Range request
        self.tamper: dict[str, Callable[[bytes], bytes]] = {}  # served path -> what the attacker does to it
        self.trickle_seconds = 0.0  # delay between the 1-byte chunks of an artifact download
        self.throttle_seconds = 0.0  # delay between the chunks of an artifact download ...
        self.throttle_chunk_bytes = 2048  # ... of this size
        self._sign_root()
        self.publish()

    # --- signing ------------------------------------------------------------------------------
    def _sign_root(self, extra: list[CryptoSigner] = ()) -> None:
        self.root.signatures.clear()
        for signer in [*self.signers["root"], *extra]:
            self.root.sign(signer, append=True)
        self.files[f"metadata/{self.root.signed.version}.root.json"] = self.root.to_bytes()

    def publish(self) -> None:
        """Sign targets, snapshot and timestamp as they are now, each at its next version."""
        self.targets.signatures.clear()
        self.targets.sign(self.signers["targets"][0])
        targets_bytes = self.targets.to_bytes()
        self.files[f"metadata/{self.targets.signed.version}.targets.json"] = targets_bytes
        self.snapshot.signed.meta["targets.json"] = MetaFile(self.targets.signed.version, len(targets_bytes),
                                                             {"sha256": hashlib.sha256(targets_bytes).hexdigest()})
        self.snapshot.signatures.clear()
        self.snapshot.sign(self.signers["snapshot"][0])
        snapshot_bytes = self.snapshot.to_bytes()
        self.files[f"metadata/{self.snapshot.signed.version}.snapshot.json"] = snapshot_bytes
        self.timestamp.signed.snapshot_meta = MetaFile(self.snapshot.signed.version, len(snapshot_bytes),
                                                       {"sha256": hashlib.sha256(snapshot_bytes).hexdigest()})
        self.sign_timestamp()

    def sign_timestamp(self) -> None:
        self.timestamp.signatures.clear()
        self.timestamp.sign(self.signers["timestamp"][0])
        self.files["metadata/timestamp.json"] = self.timestamp.to_bytes()

    def next_versions(self) -> None:
        for metadata in (self.targets, self.snapshot, self.timestamp):
            metadata.signed.version += 1

    def add_release(self, model: str, release: int, archive: bytes, profiles: list[str], rollout: dict | None = None,
                    pins: list[str] = ()) -> str:
        """A release target (assigned to everyone unless ``rollout`` says otherwise); returns its path."""
        sha256 = hashlib.sha256(archive).hexdigest()
        path = f"{model}/{release}/onnx.tar"
        target = TargetFile(len(archive), {"sha256": sha256}, path)
        target.unrecognized_fields["custom"] = {"edgekit": {
            "model": model, "release": release, "target": "onnx", "profiles": profiles, "pins": list(pins),
            "rollout": rollout or {"state": "complete", "basis_points": 10_000, "salt": "s"},
        }}
        self.targets.signed.targets[path] = target
        self.files[f"targets/{model}/{release}/{sha256}.onnx.tar"] = archive
        return path

    def rotate(self, role: str) -> CryptoSigner:
        """Replace ``role``'s first key in a new root, signed by the old and the new root keys."""
        new = CryptoSigner.generate_ed25519()
        old_root_signers = list(self.signers["root"])
        root = self.root.signed
        root.revoke_key(self.signers[role][0].public_key.keyid, role)  # the first key is the one replaced
        root.add_key(new.public_key, role)
        self.signers[role] = [new, *self.signers[role][1:]]
        root.version += 1
        self._sign_root(extra=[signer for signer in old_root_signers if signer not in self.signers["root"]])
        return new

    def served(self, path: str) -> bytes | None:
        data = self.files.get(path)
        if data is not None and path in self.tamper:
            data = self.tamper[path](data)
        return data


@contextmanager
def serve(simulator: RepositorySimulator) -> Iterator[str]:
    """The simulator on 127.0.0.1 for the block; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            path = unquote(urlparse(self.path).path).lstrip("/")
            simulator.requests.append(path)
            data = simulator.served(path)
            if data is None:
                self._answer(404, b'{"error": "not found"}')
                return
            slow = simulator.trickle_seconds or simulator.throttle_seconds
            if slow and path.startswith("targets/"):
                step = 1 if simulator.trickle_seconds else simulator.throttle_chunk_bytes
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    for index in range(0, len(data), step):
                        self.wfile.write(data[index : index + step])
                        self.wfile.flush()
                        time.sleep(slow)
                except OSError:
                    pass  # the client gave up (or was killed), as it may
                return
            requested = self.headers.get("Range", "")
            if requested.startswith("bytes=") and requested.endswith("-") and requested[6:-1].isdigit():
                start = int(requested[6:-1])
                simulator.ranges.append((path, start))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                self.wfile.write(data[start:])
                return
            self._answer(200, data)

        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            report = json.loads(body)
            simulator.reports.append({"path": self.path, "installed": report.get("installed"), **(report.get("result") or {})})
            self._answer(204, b"")

        do_POST = do_PUT

        def _answer(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
