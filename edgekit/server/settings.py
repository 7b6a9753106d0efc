"""The server's settings: one class, read from ``HOME/server.json`` (written by ``server init``) and
overridden by environment variables ``EDGEKIT_…`` (e.g. ``EDGEKIT_DB_URL``, ``EDGEKIT_PORT``).

Every limit lives here. The token secret (the HMAC key that token hashes are made with) has no
usable default: the server refuses to start with a missing, short or documented example secret.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..errors import BadInput

CONFIG_FILE = "server.json"
EXAMPLE_SECRETS = frozenset({"", "change-me", "changeme", "secret", "edgekit"})
MIN_SECRET_CHARS = 32


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDGEKIT_", extra="ignore")

    home: Path
    db_url: str = ""  # default: sqlite in HOME
    token_secret: str = "change-me"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # metadata expiry (days) and how early the timestamp is re-signed
    root_expiry_days: int = Field(default=365, ge=1)
    targets_expiry_days: int = Field(default=90, ge=1)
    snapshot_expiry_days: int = Field(default=30, ge=1)
    timestamp_expiry_seconds: int = Field(default=86_400, ge=60)
    timestamp_refresh_seconds: int = Field(default=43_200, ge=30)  # re-sign when fewer seconds than this remain
    timestamp_check_seconds: float = Field(default=60.0, gt=0)
    metadata_cache_seconds: float = Field(default=1.0, ge=0)  # how stale a replica's view of timestamp.json may be
    # request limits
    max_artifact_bytes: int = Field(default=64 << 20, ge=1024)
    max_unpacked_bytes: int = Field(default=256 << 20, ge=1024)  # what an uploaded archive may unpack to
    max_upload_members: int = Field(default=1000, ge=2)  # files in an uploaded archive (artifact.json and its manifest's)
    max_body_bytes: int = Field(default=256 << 10, ge=1024)
    max_telemetry_bytes: int = Field(default=64 << 10, ge=256)
    device_rate_per_second: float = Field(default=2.0, gt=0)
    device_burst: int = Field(default=20, ge=1)
    ip_rate_per_second: float = Field(default=50.0, gt=0)
    ip_burst: int = Field(default=200, ge=1)
    device_token_days: int = Field(default=365, ge=1)
    # who may download artifact archives: "devices" (a device token or an API key; what server init
    # writes) or "public" (anyone: the default of homes made before the setting existed)
    artifacts: Literal["public", "devices"] = "public"
    # monitoring: how often a pass runs, the telemetry window drift is judged on (at least one rollup
    # bucket: the monitor reads whole buckets), its thresholds
    monitor_seconds: float = Field(default=30.0, gt=0)
    drift_window_seconds: float = Field(default=3600.0, gt=0)
    drift_psi: float = Field(default=0.2, gt=0)
    drift_ks: float = Field(default=0.1, gt=0, le=1)
    drift_violation_rate: float = Field(default=0.05, gt=0, le=1)
    drift_min_rows: int = Field(default=500, ge=1)
    # telemetry: raw reports are kept this long for debugging (0: only the rollups), rollups this many
    # days, summed in buckets of rollup_seconds (a divisor of 3600, so buckets line up with the hour)
    raw_telemetry_seconds: float = Field(default=0.0, ge=0)
    rollup_seconds: int = Field(default=60, ge=1, le=3600)
    rollup_days: float = Field(default=31.0, gt=0)
    webhook_url: str = Field(default="", pattern=r"^(https?://\S+)?$")  # new alerts are POSTed here
    webhook_secret: str = ""  # HMAC-SHA256 key for the X-Edgekit-Signature header
    # the static mirror nginx (or a CDN) serves: metadata and archives as files, kept in step with
    # the database after every change and every mirror_sync_seconds (changes made by other machines)
    mirror: bool = True
    mirror_dir: Path | None = None  # default HOME/mirror
    mirror_sync_seconds: float = Field(default=10.0, gt=0)
    # what the operator sees on stderr (server/logs/): the event log of the server's decisions, uvicorn's
    # messages and (unless access_log is false) one line per request, as text or one JSON object per line
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    access_log: bool = True

    @model_validator(mode="after")
    def _timestamp_windows(self) -> ServerSettings:
        if not self.timestamp_check_seconds < self.timestamp_refresh_seconds < self.timestamp_expiry_seconds:
            raise ValueError("needs timestamp_check_seconds < timestamp_refresh_seconds < timestamp_expiry_seconds")
        return self

    @model_validator(mode="after")
    def _rollup_buckets(self) -> ServerSettings:
        if 3600 % self.rollup_seconds:
            raise ValueError(f"rollup_seconds {self.rollup_seconds} does not divide an hour (3600 s) evenly; "
                             "use a divisor of 3600 such as 1, 5, 10, 15, 30 or 60")
        # The monitor reads whole buckets: a window shorter than one would judge mostly what lies outside it.
        if self.drift_window_seconds < self.rollup_seconds:
            raise ValueError(f"drift_window_seconds {self.drift_window_seconds:g} is shorter than rollup_seconds {self.rollup_seconds}; "
                             f"lower rollup_seconds to a divisor of 3600 no larger than {self.drift_window_seconds:g}, "
                             f"or raise drift_window_seconds to at least {self.rollup_seconds}")
        return self

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.home / 'server.db').resolve()}"

    @property
    def storage_dir(self) -> Path:
        return self.home / "targets"

    @property
    def mirror_directory(self) -> Path:
        if self.mirror_dir is None:
            return self.home / "mirror"
        return self.mirror_dir if self.mirror_dir.is_absolute() else self.home / self.mirror_dir

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    def check_secrets(self) -> None:
        if self.token_secret in EXAMPLE_SECRETS or len(self.token_secret) < MIN_SECRET_CHARS:
            raise BadInput(
                "the server's token secret is missing, an example value or shorter than 32 characters",
                f"run edgekit server init, or set EDGEKIT_TOKEN_SECRET to {MIN_SECRET_CHARS}+ random characters",
            )


def load_settings(home: Path, **overrides: Any) -> ServerSettings:
    """Settings for the server in ``home``: its server.json, then EDGEKIT_* variables, then ``overrides``."""
    config = home / CONFIG_FILE
    if not config.is_file():
        raise BadInput(f"{home}: not an edgekit server home (no {CONFIG_FILE})", "create one with edgekit server init --home DIR")
    try:
        stored = json.loads(config.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInput(f"{config}: unreadable ({exc.__class__.__name__})", "restore it from a backup or init a new home") from exc
    try:
        # Environment variables win over the file: pydantic-settings gives init arguments priority,
        # so only the file's keys that no variable sets are passed in.
        environment = ServerSettings.model_fields.keys() & {key.removeprefix("EDGEKIT_").lower() for key in _environment()}
        base = {key: value for key, value in stored.items() if key not in environment}
        settings = ServerSettings(**{**base, "home": home, **{k: v for k, v in overrides.items() if v is not None}})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = f"server setting {'.'.join(map(str, error['loc']))}" if error["loc"] else "server settings"  # no loc: a check across settings
        raise BadInput(f"{where}: {error['msg'].removeprefix('Value error, ')}", "fix server.json or the EDGEKIT_ variable") from exc
    return settings


def _environment() -> list[str]:
    import os

    return [key for key in os.environ if key.startswith("EDGEKIT_")]
