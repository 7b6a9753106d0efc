"""``edgekit server init|run|migrate|mirror|nginx-config|rotate-keys|api-key create|list|revoke|enrollment-token``:
create, run, upgrade and look after the update server, and the static mirror nginx serves in front of it."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import BadInput
from .common import HomeOption, JsonFlag, KeyOption, ServerOption, emit, examples, report, stderr, stdout

server_app = typer.Typer(help="Create and run the update server (a TUF repository of model releases).", no_args_is_help=True)


@server_app.command("init", epilog=examples("edgekit server init --home srv", "edgekit server init --home srv --db postgresql+psycopg://edgekit@db/edgekit"))
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


@server_app.command("run", epilog=examples("edgekit server run --home srv", "edgekit server run --home srv --port 8080 --workers 4"))
def server_run(
    home: HomeOption,
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port", min=0, max=65535)] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, max=64)] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL; overrides server.json.")] = None,
    log_level: Annotated[str | None, typer.Option("--log-level",
                                                  help="debug, info, warning or error (default: server.json's log_level, info).")] = None,
    log_format: Annotated[str | None, typer.Option("--log-format",
                                                   help="text, or json: one object per line (default: server.json's log_format, text).")] = None,
    access_log: Annotated[bool | None, typer.Option("--access-log/--no-access-log", help="One line per request "
                                                    "(default: server.json's access_log, on).", show_default=False)] = None,
) -> None:
    """Serve the repository and the API with uvicorn (SQLite in HOME, or --db for PostgreSQL); logs what
    it decides (publishes, rollouts, alerts) and every request on stderr."""
    import logging.config

    import uvicorn

    from ..server.home import open_home
    from ..server.logs import events
    from ..server.logs.setup import FORMATS, LEVELS, log_config
    from ..server.serve import HOME_VARIABLE

    for flag, value, allowed in (("--log-level", log_level, LEVELS), ("--log-format", log_format, FORMATS)):
        if value is not None and value not in allowed:
            raise BadInput(f"{flag} {value} is not one of {', '.join(allowed)}", f"e.g. {flag} {allowed[1]}")
    if db:
        os.environ["EDGEKIT_DB_URL"] = db  # the worker processes read their settings from the environment
    # fail here, in one line, rather than in each worker; and upgrade the schema once, before any worker starts
    settings, database = open_home(home)
    database.engine.dispose()
    if settings.mirror:
        from ..server.mirror.writer import prepare

        prepare(settings.mirror_directory)  # an unwritable mirror is refused now, not logged by every worker
    os.environ[HOME_VARIABLE] = str(home.resolve())
    logging_config = log_config(log_level or settings.log_level, log_format or settings.log_format)
    logging.config.dictConfig(logging_config)  # for the line below; uvicorn applies the same in every worker
    bound = f"http://{host or settings.host}:{port if port is not None else settings.port}"
    events.emit("server.start", {"home": str(home), "url": bound, "workers": workers or settings.workers,
                                 "mirror": str(settings.mirror_directory) if settings.mirror else None})
    uvicorn.run("edgekit.server.serve:app", factory=True, host=host or settings.host,
                port=port if port is not None else settings.port, workers=workers or settings.workers,
                log_config=logging_config, log_level=log_level or settings.log_level,
                access_log=settings.access_log if access_log is None else access_log)


@server_app.command("mirror", epilog=examples("edgekit server mirror --home srv", "edgekit server mirror --home srv --out /var/www/edgekit"))
def server_mirror(
    home: HomeOption,
    out: Annotated[Path | None, typer.Option("--out", help="The mirror directory (default: the home's mirror_dir, HOME/mirror).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write or refresh the static mirror once: metadata and archives as files laid out like the device
    URLs, timestamp.json renamed last (for a CDN upload or a cron job; edgekit server run keeps its own)."""
    from ..server.home import open_home
    from ..server.mirror.sync import sync_mirror
    from ..server.repository.releases import BlobStore

    settings, database = open_home(home)
    result = sync_mirror(out or settings.mirror_directory, database, BlobStore(settings.storage_dir)).as_dict()
    missing = f"; {len(result['missing_archives'])} archive(s) missing from the blob store" if result["missing_archives"] else ""
    emit(as_json, result, f"mirror {result['mirror']}: {result['written']} file(s) written, "
                          f"timestamp version {result['timestamp_version']}{missing}")


@server_app.command("nginx-config", epilog=examples(
    "edgekit server nginx-config --home srv --out /etc/nginx/conf.d/edgekit.conf", "edgekit server nginx-config --home srv --standalone ngx --out ngx/nginx.conf"))
def server_nginx_config(
    home: HomeOption,
    listen: Annotated[str, typer.Option("--listen", help="Where nginx listens: PORT or HOST:PORT.")] = "127.0.0.1:8000",
    upstream: Annotated[list[str] | None, typer.Option("--upstream", help="HOST:PORT of edgekit server run (repeatable; "
                                                       "default: the home's host and port).")] = None,
    standalone: Annotated[Path | None, typer.Option("--standalone", help="Write a complete nginx.conf with pid, logs and temp "
                                                    "files under this directory (runs without root).")] = None,
    auth_cache_seconds: Annotated[int, typer.Option("--auth-cache-seconds", min=0, max=3600, help="How long nginx keeps a "
                                                    "token's yes for private artifacts: a revoked token may download this long (+1 s).")] = 10,
    out: Annotated[Path | None, typer.Option("--out", help="Write the configuration here (default: stdout).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The nginx configuration for this home: the mirror served statically, /v1/ and the rest proxied to
    uvicorn; private artifacts checked with auth_request."""
    from edgekit_runtime.atomic import write_atomically

    from ..server.mirror import nginx
    from ..server.settings import load_settings

    settings = load_settings(home)
    if out is not None and out.is_dir():
        raise BadInput(f"--out {out}: is a directory", "name the configuration file to write, e.g. --out nginx.conf")
    if standalone is not None:
        nginx.prepare_prefix(standalone)
    options = nginx.NginxOptions(
        mirror=settings.mirror_directory, listen=listen, upstreams=tuple(upstream or [f"{settings.host}:{settings.port}"]),
        private_artifacts=settings.artifacts == "devices", auth_cache_seconds=auth_cache_seconds,
        max_body_bytes=settings.max_artifact_bytes, prefix=standalone)
    text = nginx.render(options)
    if not settings.mirror:
        stderr.print(f"note: this home's server keeps no mirror (setting mirror is false): refresh {settings.mirror_directory} "
                     "with edgekit server mirror (e.g. from cron), or nginx serves what is there")
    if out is None:
        if as_json:
            emit(True, {"config": text, "mirror": str(settings.mirror_directory), "private_artifacts": options.private_artifacts}, "")
        else:
            sys.stdout.write(text)
        return
    try:
        write_atomically(out, text)
    except OSError as exc:
        raise BadInput(f"--out {out}: cannot write ({exc.strerror})", "pass a file in a directory you can write") from exc
    out.chmod(0o644)
    emit(as_json, {"out": str(out), "mirror": str(settings.mirror_directory), "private_artifacts": options.private_artifacts},
         f"wrote {out} (mirror {settings.mirror_directory}; " + (f"start it with nginx -c {out.resolve()})" if standalone else
                                                                 "include it in nginx's http block, then nginx -t)"))
@server_app.command("migrate", epilog=examples("edgekit server migrate --home srv"))
def server_migrate(
    home: HomeOption,
    db: Annotated[str | None, typer.Option("--db", help="Database URL; overrides server.json.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Bring the home's database to the newest schema (Alembic). `server run` does it too, before it starts workers."""
    from ..server.home import migrate_home

    if db:
        os.environ["EDGEKIT_DB_URL"] = db
    _, database, result = migrate_home(home)
    database.engine.dispose()
    before = result["from"] or "none (a home made before migrations)"
    emit(as_json, result, f"the database is at schema {result['to']}" + ("" if result["from"] == result["to"] else f" (was {before})"))


@server_app.command("rotate-keys", epilog=examples("edgekit server rotate-keys timestamp --home srv", "edgekit server rotate-keys root --home srv --root-keys /mnt/usb/keys"))
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
    if settings.mirror:  # the running servers' periodic sync would catch it too, later
        from ..server.mirror.sync import sync_mirror
        from ..server.repository.releases import BlobStore

        sync_mirror(settings.mirror_directory, database, BlobStore(settings.storage_dir))
    emit(as_json, result, f"rotated the {role} key: root is now version {result['root_version']}")


api_key_app = typer.Typer(help="Create, list and revoke API keys, on the server's home directly (as init does). "
                               "The older form `api-key --home HOME --role ROLE` still creates one.",
                          invoke_without_command=True, no_args_is_help=True)
server_app.add_typer(api_key_app, name="api-key")
RoleOption = Annotated[str, typer.Option("--role", help="admin or operator (read-only, for dashboards).")]


@api_key_app.callback()
def server_api_key(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option("--home", hidden=True)] = None,
    role: Annotated[str | None, typer.Option("--role", hidden=True)] = None,
    as_json: Annotated[bool, typer.Option("--json", hidden=True)] = False,
) -> None:
    """Run a subcommand, or create a key when called the older way (`api-key --home HOME --role ROLE`)."""
    if ctx.invoked_subcommand is not None:
        if home is not None or role is not None or as_json:
            raise BadInput(f"put the options after the command: edgekit server api-key {ctx.invoked_subcommand} --home HOME ...",
                           "see edgekit server api-key --help")
        return
    if home is None:
        raise BadInput("edgekit server api-key needs a command: create, list or revoke",
                       "e.g. edgekit server api-key create --home HOME --role operator")
    _create_key(home, role or "operator", as_json)


@api_key_app.command("create", epilog=examples("edgekit server api-key create --home srv --role operator"))
def server_api_key_create(home: HomeOption, role: RoleOption = "operator", as_json: JsonFlag = False) -> None:
    """Create an API key (printed once)."""
    _create_key(home, role, as_json)


def _create_key(home: Path, role: str, as_json: bool) -> None:
    from ..server.home import create_api_key, open_home

    settings, database = open_home(home)
    key_id, key = create_api_key(database, settings, role, "cli")
    emit(as_json, {"key_id": key_id, "role": role, "key": key}, f"{role} key {key_id} (shown once): {key}")


@api_key_app.command("list", epilog=examples("edgekit server api-key list --home srv"))
def server_api_key_list(home: HomeOption, as_json: JsonFlag = False) -> None:
    """Every API key: id, role, when it was created, whether it is revoked (keys themselves are never stored)."""
    from ..server.home import list_api_keys, open_home

    _, database = open_home(home)
    keys = list_api_keys(database)
    report(as_json, [{**key, "created": key["created"].isoformat()} for key in keys], lambda: stdout.print("\n".join(
        f"{key['key_id']:<16}  {key['role']:<8}  created {key['created']:%Y-%m-%d %H:%M:%S}  "
        f"{'revoked' if key['revoked'] else 'active'}" for key in keys) or "no API keys"))


@api_key_app.command("revoke", epilog=examples("edgekit server api-key revoke KEY_ID --home srv"))
def server_api_key_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (edgekit server api-key list shows them).")],
    home: HomeOption,
    as_json: JsonFlag = False,
) -> None:
    """Revoke an API key: every server process on this home refuses it from the next request."""
    from ..server.home import open_home, revoke_api_key

    _, database = open_home(home)
    result = revoke_api_key(database, key_id, "cli")
    emit(as_json, result, f"{result['role']} key {key_id} {'is revoked' if result['changed'] else 'was already revoked'}")


@server_app.command("enrollment-token", epilog=examples(
    "edgekit server enrollment-token --server http://127.0.0.1:8080 --uses 50",
    "edgekit server enrollment-token --uses 50 --profile raspberry-pi-4b --tag a"))
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
