"""``edgekit server init|run|rotate-keys|api-key|enrollment-token``: create, run and look after the
update server."""

import os
from pathlib import Path
from typing import Annotated

import typer

from .common import HomeOption, JsonFlag, KeyOption, ServerOption, emit, stderr

server_app = typer.Typer(help="Create and run the update server (a TUF repository of model releases).", no_args_is_help=True)


@server_app.command("init")
def server_init(
    home: HomeOption,
    root_keys_dir: Annotated[Path | None, typer.Option("--root-keys", help="Where root keys go (default: HOME-root-keys); "
                                                       "move it offline afterwards.")] = None,
    root_keys: Annotated[int, typer.Option("--root-key-count", min=1, max=16, help="Number of root keys.")] = 3,
    threshold: Annotated[int, typer.Option("--root-threshold", min=1, max=16, help="Root keys needed to sign root.")] = 2,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: SQLite in HOME), "
                                            "e.g. postgresql+psycopg://user:pass@host/db.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a server home: settings, database, TUF root and online keys, and an admin key (printed once)."""
    from ..server.home import init_home

    result = init_home(home, root_keys_dir, root_keys, threshold, db)
    emit(as_json, result, (
        f"created the update server in {result['home']} (database {result['database']})\n"
        f"root keys ({result['root_threshold']} of {result['root_key_count']} needed): {result['root_keys']} "
        "- move this directory offline; it is needed only to rotate keys\n"
        f"admin key (shown once, keep it secret): {result['admin_key']}\n"
        f"next: edgekit server run --home {result['home']}"))


@server_app.command("run")
def server_run(
    home: HomeOption,
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port", min=0, max=65535)] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, max=64)] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL; overrides server.json.")] = None,
) -> None:
    """Serve the repository and the API with uvicorn (SQLite in HOME, or --db for PostgreSQL)."""
    import uvicorn

    from ..server.home import open_home
    from ..server.serve import HOME_VARIABLE

    if db:
        os.environ["EDGEKIT_DB_URL"] = db  # the worker processes read their settings from the environment
    settings, database = open_home(home)  # fail here, in one line, rather than in each worker
    database.engine.dispose()
    os.environ[HOME_VARIABLE] = str(home.resolve())
    stderr.print(f"edgekit server: {home} on http://{host or settings.host}:{port if port is not None else settings.port} "
                 f"({workers or settings.workers} worker(s))")
    uvicorn.run("edgekit.server.serve:app", factory=True, host=host or settings.host,
                port=port if port is not None else settings.port, workers=workers or settings.workers,
                log_level="warning", access_log=False)


@server_app.command("rotate-keys")
def server_rotate_keys(
    role: Annotated[str, typer.Argument(help="root, targets, snapshot or timestamp.")],
    home: HomeOption,
    root_keys_dir: Annotated[Path | None, typer.Option("--root-keys", help="The offline root key directory.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Replace a role's key: a new root version signed by the old and the new root thresholds."""
    from ..server.home import open_home
    from ..server.repository.metadata import Repository

    settings, database = open_home(home)
    result = Repository(settings, database).rotate(role, root_keys_dir or home.parent / f"{home.name}-root-keys")
    from ..server.audit import record

    with database.session() as session:
        record(session, "cli", "rotate-keys", result)
    emit(as_json, result, f"rotated the {role} key: root is now version {result['root_version']}")


@server_app.command("api-key")
def server_api_key(
    home: HomeOption,
    role: Annotated[str, typer.Option("--role", help="admin or operator (read-only, for dashboards).")] = "operator",
    as_json: JsonFlag = False,
) -> None:
    """Create an API key (printed once)."""
    from ..server.home import create_api_key, open_home

    settings, database = open_home(home)
    key_id, key = create_api_key(database, settings, role, "cli")
    emit(as_json, {"key_id": key_id, "role": role, "key": key}, f"{role} key {key_id} (shown once): {key}")


@server_app.command("enrollment-token")
def server_enrollment_token(
    server: ServerOption,
    uses: Annotated[int, typer.Option("--uses", min=1, help="How many devices may enroll with it.")] = 1,
    hours: Annotated[float, typer.Option("--expires-hours", min=0.01)] = 24.0,
    profile: Annotated[str | None, typer.Option("--profile", help="The device profile enrolled devices get.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag enrolled devices (repeatable).")] = None,
    admin_key: KeyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """A token devices enroll with (POST /v1/devices)."""
    from ..fleet.client import AdminClient

    client = AdminClient(server, admin_key)
    result = client.request("POST", "/v1/admin/enrollment-tokens",
                            json={"uses": uses, "expires_hours": hours, "profile": profile, "tags": tag or []})
    emit(as_json, result, f"enrollment token ({uses} use(s), until {result['expires']}): {result['token']}")
