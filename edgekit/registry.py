"""The local run registry: every bundle trained on this machine, in SQLite under EDGEKIT_HOME."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .errors import BadInput

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    created TEXT NOT NULL,
    family TEXT NOT NULL,
    task TEXT NOT NULL,
    data_source TEXT NOT NULL,
    data_fingerprint TEXT NOT NULL,
    bundle_path TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    metrics TEXT NOT NULL,
    UNIQUE (name, version)
);
"""


class RunRegistry:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise BadInput(f"{self.path}: cannot open the run registry ({exc})", "check EDGEKIT_HOME") from exc
        try:
            connection.execute(_SCHEMA)
            yield connection
        except sqlite3.DatabaseError as exc:
            raise BadInput(f"{self.path}: the run registry is unusable ({exc})", "move the file aside; edgekit starts a new one") from exc
        finally:
            connection.close()

    def register(self, name: str, write: Callable[[int], T], describe: Callable[[T], dict[str, Any]]) -> T:
        """Reserve the next version of ``name``, call ``write(version)`` and record what it made.

        The write happens inside one write transaction, so two trainings of the same name at once
        get different versions, and a failed write records nothing.
        """
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                (latest,) = connection.execute("SELECT MAX(version) FROM runs WHERE name = ?", (name,)).fetchone()
                version = (latest or 0) + 1
                made = write(version)
                row = describe(made)
                connection.execute(
                    "INSERT INTO runs (name, version, created, family, task, data_source, data_fingerprint,"
                    " bundle_path, content_hash, metrics) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        name, version, row["created"], row["family"], row["task"], row["data_source"],
                        row["data_fingerprint"], row["bundle_path"], row["content_hash"], json.dumps(row["metrics"]),
                    ),
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return made

    def runs(self, name: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM runs" + (" WHERE name = ?" if name else "") + " ORDER BY id"
        with self._connect() as connection:
            connection.row_factory = sqlite3.Row
            rows = connection.execute(query, (name,) if name else ()).fetchall()
        return [{**dict(row), "metrics": json.loads(row["metrics"])} for row in rows]
