"""Which release a device should run: the rule the server signs into each TUF target's ``custom``
field, evaluated by the device itself, so a poll stays a GET of a small signed file.

A target's custom field (``custom["edgekit"]``) names its model, release number and device
profiles, the devices pinned to it (by pin tag: a keyed hash of the device id the server gives
each device, so the public metadata lists no device ids), and its rollout: ``None``-like states never assign it,
``active``/``paused`` assign it to the devices whose bucket (sha256 of salt and device id, mapped
to 0..9999) is below the stage in basis points (1 % = 100; TUF's canonical JSON has no floats),
``complete`` to every device; a rollout may be
limited to some profiles and to devices carrying one of some tags. A device runs the pinned
release if it has one, else the newest release assigned to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ASSIGNING_STATES = frozenset({"active", "paused", "complete"})


@dataclass(frozen=True)
class DeviceIdentity:
    device_id: str
    profile: str
    tags: frozenset[str] = frozenset()
    pin_tag: str | None = None  # how the signed pins name this device (a keyed hash of its id, from the server)

    def pinned(self, pins: Iterable[str]) -> bool:
        pins = set(pins)
        return self.device_id in pins or (self.pin_tag is not None and self.pin_tag in pins)


BASIS_POINTS = 10_000  # 100 %


def bucket(salt: str, device_id: str) -> int:
    """The device's place in 0..9999 for one rollout: uniform, and different for every salt."""
    digest = hashlib.sha256(f"{salt}\x00{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") * BASIS_POINTS >> 64


def assigned(rollout: Mapping[str, Any] | None, device: DeviceIdentity) -> bool:
    """Does this rollout give its release to this device?"""
    if not rollout or rollout.get("state") not in ASSIGNING_STATES:
        return False
    profiles, tags = rollout.get("profiles") or [], rollout.get("tags") or []
    if profiles and device.profile not in profiles:
        return False
    if tags and not device.tags.intersection(tags):
        return False
    if rollout["state"] == "complete":
        return True
    return bucket(str(rollout["salt"]), device.device_id) < int(rollout["basis_points"])


def choose_release(targets: Iterable[tuple[str, Mapping[str, Any] | None]], model: str, device: DeviceIdentity) -> str | None:
    """The target path this device should run among ``(path, custom)`` pairs, or None."""
    mine = []
    for path, custom in targets:
        release = (custom or {}).get("edgekit")
        if isinstance(release, Mapping) and release.get("model") == model and device.profile in (release.get("profiles") or []):
            mine.append((int(release["release"]), path, release))
    pinned = [entry for entry in mine if device.pinned(entry[2].get("pins") or [])]
    candidates = pinned or [entry for entry in mine if assigned(entry[2].get("rollout"), device)]
    return max(candidates)[1] if candidates else None
