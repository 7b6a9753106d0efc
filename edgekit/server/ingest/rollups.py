"""Summing accepted telemetry reports into rollups (release x device profile x device tag set x
assigned x time bucket of ``rollup_seconds``) and adding a batch's sums to the stored ones. Pure: no
database."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..monitoring.buckets import bucket_of
from ..monitoring.totals import Totals


@dataclass(frozen=True)
class Accepted:
    """A report that passed every check at the door, with what the server knows of its device."""

    device_id: str
    profile: str
    tags: tuple[str, ...]
    release: str  # "" for a report that names no release (counted, never judged)
    payload: dict[str, Any]
    received: datetime


@dataclass(frozen=True)
class RollupKey:
    minute: datetime  # the bucket's start (named for the one-minute buckets rollups first had)
    release: str
    profile: str
    tags: tuple[str, ...]  # sorted
    assigned: bool

    @property
    def tag_key(self) -> str:
        return tag_key(self.tags)


def tag_key(tags: Iterable[str]) -> str:
    return hashlib.sha256(json.dumps(sorted(tags)).encode()).hexdigest()


def summed(reports: Iterable[Accepted], assigned: Callable[[Accepted], bool], *, seconds: int) -> dict[RollupKey, Totals]:
    """The batch's sums per rollup key, in buckets of ``seconds`` (the server's rollup_seconds);
    ``assigned(report)`` says whether the signed rule gives the report's release to its device."""
    payloads: dict[RollupKey, list[dict[str, Any]]] = defaultdict(list)
    for report in reports:
        key = RollupKey(bucket_of(report.received, seconds), report.release, report.profile, tuple(sorted(report.tags)),
                        bool(report.release) and assigned(report))
        payloads[key].append(report.payload)
    groups = {}
    for key, group in payloads.items():
        groups[key] = Totals()
        groups[key].add_all(group)
    return groups


def added(stored: Totals | None, batch: Totals) -> Totals:
    """A rollup row's sums plus a batch's, as a new Totals (``stored`` is left as it is: it stays
    what was committed until the batch is)."""
    if stored is None:
        return batch
    total = Totals()
    total.merge(stored)
    total.merge(batch)
    return total
