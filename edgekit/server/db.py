"""The server's database (SQLAlchemy 2): SQLite in the server's home by default, PostgreSQL when
several server processes share one fleet. Nothing connects at import time.

The schema is made and changed by Alembic migrations (``migrations/``, applied by ``migrate.py``);
a home made before Alembic is brought to the first schema (missing tables, missing nullable
columns), stamped at it and upgraded. Writes that change signed metadata take the ``metadata`` row lock first, so one writer
at a time signs, across processes and machines (a row lock in PostgreSQL, the write lock in SQLite).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    create_engine,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # stored naive, always UTC


# the signing lock and the monitor's lease (an expiry time in ms)
LOCKS = ("metadata", "monitor")


class Base(DeclarativeBase):
    pass


class Lock(Base):
    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    taken: Mapped[int] = mapped_column(BigInteger, default=0)


class TufMetadata(Base):
    """Every signed version of every role, as the exact bytes served (hashes refer to these bytes)."""

    __tablename__ = "tuf_metadata"
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    expires: Mapped[datetime] = mapped_column(DateTime)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Release(Base):
    __tablename__ = "releases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    target: Mapped[str] = mapped_column(String(40))  # the compile target (onnx, c, tflite-int8, ...)
    profiles: Mapped[list] = mapped_column(JSON)  # device profile ids it is meant for
    target_path: Mapped[str] = mapped_column(String(300), unique=True)  # its TUF target name
    sha256: Mapped[str] = mapped_column(String(64))
    length: Mapped[int] = mapped_column(BigInteger)
    artifact: Mapped[dict] = mapped_column(JSON)  # identity: bundle, content hash, precision, runtime, triple
    parity: Mapped[dict] = mapped_column(JSON)
    bench: Mapped[dict] = mapped_column(JSON)
    pins: Mapped[list] = mapped_column(JSON, default=list)  # device ids pinned to this release
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    __table_args__ = (Index("ix_release_model_version", "model", "version", unique=True),)


class Rollout(Base):
    __tablename__ = "rollouts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))  # active, paused, complete, rolled_back
    stages: Mapped[list] = mapped_column(JSON)  # percentages, e.g. [1, 10, 50, 100]
    stage: Mapped[int] = mapped_column(Integer, default=0)  # index into stages
    salt: Mapped[str] = mapped_column(String(32))
    profiles: Mapped[list] = mapped_column(JSON)  # empty: every profile the release is for
    tags: Mapped[list] = mapped_column(JSON)  # empty: every device
    history: Mapped[list] = mapped_column(JSON)  # [{"at", "action", "by", "percent"}]
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def percent(self) -> float:
        return float(self.stages[self.stage])


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    profile: Mapped[str] = mapped_column(String(64), index=True)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_expires: Mapped[datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    enrolled: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    installed: Mapped[str | None] = mapped_column(String(300), nullable=True)  # TUF target path
    # the model the device follows, fixed at enrollment (None: enrolled before edgekit recorded it)
    model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    last_result: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class EnrollmentToken(Base):
    __tablename__ = "enrollment_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    uses_left: Mapped[int] = mapped_column(Integer)
    expires: Mapped[datetime] = mapped_column(DateTime)
    profile: Mapped[str | None] = mapped_column(String(64), nullable=True)  # None: the device says
    tags: Mapped[list] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(64))


class ApiKey(Base):
    __tablename__ = "api_keys"
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)  # shown in the audit log
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin or operator
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))  # "admin:<key id>", "cli", ...
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON)


class TelemetryReport(Base):
    __tablename__ = "telemetry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    received: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    release: Mapped[str | None] = mapped_column(String(300), nullable=True, index=True)
    payload: Mapped[dict] = mapped_column(JSON)


class TelemetryRollup(Base):
    """The sums of the reports one group of devices sent in one bucket of ``rollup_seconds`` to one
    server process (ingest/telemetry.py writes them, the monitor reads them): a group is a release x
    device profile x device tag set x whether the rollout rule current at ingest assigned the
    release to the device. ``sums`` is monitoring.totals.Totals as JSON (which counts reports, not
    distinct devices)."""

    __tablename__ = "telemetry_rollups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    minute: Mapped[datetime] = mapped_column(DateTime)  # UTC, start of the reports' bucket (buckets were minutes)
    release: Mapped[str] = mapped_column(String(300))
    profile: Mapped[str] = mapped_column(String(64))
    tags: Mapped[list] = mapped_column(JSON)  # the devices' tag set, sorted
    tag_key: Mapped[str] = mapped_column(String(64))  # sha256 of the sorted tags: keeps the unique index small
    assigned: Mapped[bool] = mapped_column(Boolean)
    reports: Mapped[int] = mapped_column(BigInteger)
    sums: Mapped[dict] = mapped_column(JSON)
    # the server process that wrote the row (ingest/telemetry.py): each writes rows of its own, so none waits for another
    writer: Mapped[str] = mapped_column(String(32), server_default="")
    __table_args__ = (Index("ix_rollup_group", "minute", "release", "profile", "tag_key", "assigned", "writer", unique=True),)


class ReleaseBaseline(Base):
    """The training baseline (the bundle's baseline.json) of a release, read from its artifact at publish."""

    __tablename__ = "release_baselines"
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), primary_key=True)
    baseline: Mapped[dict] = mapped_column(JSON)


class DeviceEvent(Base):
    """Every update outcome a device reports (installed, failed, rolled back, ...): what gates count."""

    __tablename__ = "device_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    target: Mapped[str | None] = mapped_column(String(300), nullable=True, index=True)  # the release it is about
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(2000), default="")


class RolloutGate(Base):
    """The health gates of a rollout, and what their latest evaluation found."""

    __tablename__ = "rollout_gates"
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id"), primary_key=True)
    spec: Mapped[dict] = mapped_column(JSON)  # gates.GateSpec
    stage_started: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last: Mapped[dict] = mapped_column(JSON, default=dict)  # the latest evaluation: {"at", "verdict", "gates": [...]}


class DriftPoint(Base):
    """One feature's (or the predictions') drift statistics for one group at one evaluation."""

    __tablename__ = "drift_points"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    profile: Mapped[str] = mapped_column(String(64))
    cohort: Mapped[str] = mapped_column(String(64))  # "*" for every device, else a device tag
    feature: Mapped[str] = mapped_column(String(100))  # a feature name, or "(predictions)"
    rows: Mapped[int] = mapped_column(BigInteger)
    psi: Mapped[float] = mapped_column(Float)
    ks: Mapped[float] = mapped_column(Float)
    violation_rate: Mapped[float] = mapped_column(Float)
    # the latest point of every group (GET /v1/admin/drift, the dashboard) without reading every point
    __table_args__ = (Index("ix_drift_point_group", "release_id", "profile", "cohort", "feature", "id"),)


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # drift, violations, predictions
    state: Mapped[str] = mapped_column(String(16), index=True)  # open, resolved
    opened: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    resolved: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    model: Mapped[str] = mapped_column(String(100), index=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))
    profile: Mapped[str] = mapped_column(String(64))
    cohort: Mapped[str] = mapped_column(String(64))
    feature: Mapped[str] = mapped_column(String(100))
    statistic: Mapped[str] = mapped_column(String(32))  # psi, ks, violation_rate
    value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    rows: Mapped[int] = mapped_column(BigInteger)
    webhook: Mapped[str] = mapped_column(String(300), default="")  # "", "sent", or why it failed


class IdempotentAnswer(Base):
    """The answer to an admin write sent with an Idempotency-Key (idempotency.py), kept a day."""

    __tablename__ = "idempotent_answers"
    actor: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        sqlite = url.startswith("sqlite")
        self.engine: Engine = create_engine(
            url, connect_args={"timeout": 30} if sqlite else {}, pool_pre_ping=not sqlite,
            **({} if sqlite else {"pool_size": 10, "max_overflow": 20}))
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def add_missing_columns(self, tables: set[str]) -> None:
        """Nullable columns of ``tables`` an old home lacks, added with ALTER TABLE (how homes made
        before Alembic grew; migrate.py uses it to bring such a home to the first schema)."""
        present = inspect(self.engine)
        for table in Base.metadata.sorted_tables:
            if table.name not in tables:
                continue
            have = {column["name"] for column in present.get_columns(table.name)}
            for column in table.columns:
                if column.name in have:
                    continue
                if not column.nullable:
                    raise RuntimeError(f"{table.name}.{column.name} is missing and not nullable: this needs a migration")
                kind = column.type.compile(dialect=self.engine.dialect)
                try:
                    with self.engine.begin() as connection:
                        connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}'))
                except (OperationalError, ProgrammingError):  # another server process added it meanwhile
                    if column.name not in {c["name"] for c in inspect(self.engine).get_columns(table.name)}:
                        raise

    def add_locks(self) -> None:
        with self.session() as session:
            for name in LOCKS:
                if session.get(Lock, name) is None:
                    session.add(Lock(name=name, taken=0))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        with self.sessions() as session, session.begin():
            yield session

    def take_metadata_lock(self, session: Session) -> None:
        """Serialize every writer of signed metadata until this transaction ends."""
        session.execute(update(Lock).where(Lock.name == "metadata").values(taken=Lock.taken + 1))

    def ready(self) -> bool:
        try:
            with self.session() as session:
                session.execute(select(Lock.name).limit(1))
            return True
        except Exception:  # noqa: BLE001 - readiness answers no for any database failure
            return False


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


__all__ = ["Alert", "ApiKey", "AuditEntry", "Database", "Device", "DeviceEvent", "DriftPoint", "EnrollmentToken", "IdempotentAnswer",
           "Release", "ReleaseBaseline", "Rollout", "RolloutGate", "TelemetryReport", "TelemetryRollup", "TufMetadata", "utcnow"]
