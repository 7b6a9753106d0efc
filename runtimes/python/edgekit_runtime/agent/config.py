"""Every limit and interval of the agent, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AgentConfig:
    poll_seconds: float = 600.0  # between update cycles, before jitter
    jitter: float = 0.2  # each wait is poll_seconds x (1 +- jitter): a fleet does not poll in step
    backoff_max_seconds: float = 3600.0  # after failures the wait doubles up to this
    request_timeout_seconds: float = 10.0  # connect / between bytes
    min_download_bytes_per_second: float = 4096.0  # slower than this (after a 30 s grace) is an attack
    download_grace_seconds: float = 30.0
    max_artifact_bytes: int = 256 << 20
    max_unpacked_bytes: int = 1 << 30  # what an archive may unpack to
    max_artifact_members: int = 1000  # files in an archive (artifact.json and its manifest's), checked before one is written
    max_metadata_bytes: int = 5_000_000
    probation_seconds: float = 300.0  # after a switch, an unhealthy report from the app switches back
    latency_sanity_factor: float = 20.0  # a smoke-test row slower than factor x the profile budget fails
    max_telemetry_bytes: int = 32 << 10
