"""Creating and maintaining a server home: ``server init`` (settings, database, TUF repository,
the first admin key), API keys (create, list, revoke), key rotation. These act on the home and
database directly; the admin API lists and revokes keys through the same functions."""

from __future__ import annotations

import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from edgekit_runtime.atomic import write_atomically
from sqlalchemy import func, inspect, select

from ..errors import BadInput
from .audit import record
from .db import ApiKey, Database, TufMetadata
from .migrate import upgrade
from .repository.metadata import Repository
from .settings import CONFIG_FILE, ServerSettings, load_settings
from .tokens import new_id, new_token, token_hash

KEY_ID = re.compile(r"^[0-9a-f]{1,16}$")  # new_id's hex digits; the column holds 16


def _must_be_new(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BadInput(f"{path}: exists and is not empty", f"choose a new directory for the {what}")


def init_home(home: Path, root_dir: Path | None, root_keys: int, threshold: int, db_url: str | None) -> dict[str, Any]:
    """A new server home with its repository; returns the admin key (shown once) and where things are."""
    root_dir = root_dir or home.parent / f"{home.name}-root-keys"
    _must_be_new(home, "server home")
    _must_be_new(root_dir, "root keys")
    if not home.parent.is_dir():
        raise BadInput(f"{home.parent}: directory does not exist", "create it first")
    created = [path for path in (home, root_dir) if not path.exists()]
    try:
        home.mkdir(mode=0o700, exist_ok=True)
        config = {"token_secret": secrets.token_urlsafe(48), "artifacts": "devices", **({"db_url": db_url} if db_url else {})}
        write_atomically(home / CONFIG_FILE, json.dumps(config, indent=2))  # 0600, as every atomic write
        settings = load_settings(home)
        database = Database(settings.database_url)
        if "tuf_metadata" in inspect(database.engine).get_table_names():
            with database.session() as session:
                if session.scalar(select(func.count()).select_from(TufMetadata)):
                    raise BadInput(f"the database {_shown(settings.database_url)} already holds a repository",
                                   "use an empty database for a new server")
        upgrade(database)  # a new database: every migration from the first
        Repository(settings, database).create(root_dir, root_keys, threshold)
        key_id, admin_key = create_api_key(database, settings, "admin", "server init")
        database.engine.dispose()
    except BaseException:
        for path in created:
            shutil.rmtree(path, ignore_errors=True)
        raise
    return {"home": str(home), "root_keys": str(root_dir), "root_threshold": threshold, "root_key_count": root_keys,
            "database": _shown(settings.database_url), "admin_key_id": key_id, "admin_key": admin_key}


def create_api_key(database: Database, settings: ServerSettings, role: str, actor: str) -> tuple[str, str]:
    if role not in ("admin", "operator"):
        raise BadInput(f"unknown key role {role!r}", "use admin or operator")
    key_id = new_id(8)
    token = new_token(f"{role[0]}{key_id}")
    with database.session() as session:
        session.add(ApiKey(key_id=key_id, key_hash=token_hash(settings.token_secret, token), role=role))
        record(session, actor, "api-key.create", {"key_id": key_id, "role": role})
    return key_id, token


class UnknownApiKey(BadInput):
    """A well-formed key id that names no key (the API answers 404, the CLI exits 2)."""


def list_api_keys(database: Database) -> list[dict[str, Any]]:
    """Every API key's id, role, creation time and whether it is revoked, oldest first; never its hash."""
    with database.session() as session:
        keys = session.scalars(select(ApiKey).order_by(ApiKey.created, ApiKey.key_id))
        return [{"key_id": key.key_id, "role": key.role, "created": key.created, "revoked": key.revoked} for key in keys]


def revoke_api_key(database: Database, key_id: str, actor: str) -> dict[str, Any]:
    """Revoke a key, audited. Every server process refuses it from the next request (auth reads the
    key each time); the last active admin key is kept, or nobody could act on the server again."""
    if not KEY_ID.match(key_id):
        raise BadInput(f"{key_id[:40]!r} is not an API key id (hex digits)", "see the ids with edgekit server api-key list")
    with database.session() as session:
        database.take_metadata_lock(session)  # one revocation at a time: two admins cannot revoke each other's last key
        key = session.get(ApiKey, key_id)
        if key is None:
            raise UnknownApiKey(f"no API key {key_id}", "see the ids with edgekit server api-key list")
        if key.revoked:
            return {"key_id": key_id, "role": key.role, "revoked": True, "changed": False}
        others = select(func.count()).select_from(ApiKey).where(ApiKey.role == "admin", ~ApiKey.revoked, ApiKey.key_id != key_id)
        if key.role == "admin" and not session.scalar(others):
            raise BadInput(f"{key_id} is the last active admin key: revoking it would lock every admin out",
                           "create another first: edgekit server api-key create --role admin --home HOME")
        key.revoked = True
        record(session, actor, "api-key.revoke", {"key_id": key_id, "role": key.role})
        return {"key_id": key_id, "role": key.role, "revoked": True, "changed": True}


def _shown(url: str) -> str:
    """A database URL without its password."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if at and ":" in credentials:
        rest = f"{credentials.split(':')[0]}:***@{host}"
    return f"{scheme}://{rest}"


def open_home(home: Path) -> tuple[ServerSettings, Database]:
    settings, database, _ = migrate_home(home)
    return settings, database


def migrate_home(home: Path) -> tuple[ServerSettings, Database, dict[str, str | None]]:
    """Open a home's database and bring it to the newest schema (migrate.py); the revisions before and after."""
    settings = load_settings(home)
    settings.check_secrets()
    database = Database(settings.database_url)
    if not database.ready():
        raise BadInput(f"the database {_shown(settings.database_url)} is not reachable or not initialized",
                       "start it, or check EDGEKIT_DB_URL / server.json")
    return settings, database, upgrade(database)  # a home made by an older edgekit gets the migrations it lacks
