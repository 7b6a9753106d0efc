"""The repository's signing keys. Online keys (targets, snapshot, timestamp) live in the server's
home, one PEM file per role; root keys live in a separate directory meant to go offline (they are
needed only to create the repository and to rotate keys). Private keys are written 0600.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from edgekit_runtime.atomic import write_atomically
from securesystemslib.signer import CryptoSigner, Key

from ...errors import BadInput

ONLINE_ROLES = ("targets", "snapshot", "timestamp")


def generate() -> CryptoSigner:
    return CryptoSigner.generate_ed25519()


def write_signer(directory: Path, name: str, signer: CryptoSigner) -> None:
    """``name``.pem (private, 0600) and ``name``.pub.json (the public key with its keyid)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = signer.public_key
    write_atomically(directory / f"{name}.pem", signer.private_bytes)  # 0600: mkstemp's mode
    write_atomically(directory / f"{name}.pub.json", json.dumps({"keyid": key.keyid, "key": key.to_dict()}, indent=2))


def read_signer(directory: Path, name: str) -> CryptoSigner:
    private, public = directory / f"{name}.pem", directory / f"{name}.pub.json"
    try:
        document = json.loads(public.read_text())
        key = Key.from_dict(document["keyid"], dict(document["key"]))
        return CryptoSigner(load_pem_private_key(private.read_bytes(), password=None), key)
    except FileNotFoundError as exc:
        raise BadInput(f"{exc.filename}: signing key missing", f"restore {directory} or pass the directory that holds it") from exc
    except (ValueError, KeyError, json.JSONDecodeError) as exc:
        raise BadInput(f"{private}: not a usable signing key ({exc.__class__.__name__})", "restore it from its backup") from exc


def root_key_names(directory: Path) -> list[str]:
    return sorted(path.name.removesuffix(".pem") for path in directory.glob("root-*.pem"))
