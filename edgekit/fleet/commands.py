"""The delivery commands: ``edgekit server init|run|rotate-keys|api-key|enrollment-token``,
``edgekit publish`` and ``edgekit rollout start|status|promote|pause|resume|rollback|pin``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from .gates import GATES

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

server_app = typer.Typer(help="Create and run the update server (a TUF repository of model releases).", no_args_is_help=True)
rollout_app = typer.Typer(help="Stage a release out to the fleet, and stop or undo it.", no_args_is_help=True)
fleet_app = typer.Typer(help="Simulated fleets for rollout demos and load tests.", no_args_is_help=True)

HomeOption = Annotated[Path, typer.Option("--home", help="The server's home directory.")]
ServerOption = Annotated[str, typer.Option("--server", help="The server's URL, e.g. http://127.0.0.1:8080.")]
KeyOption = Annotated[str | None, typer.Option("--admin-key", help="Admin API key (default: $EDGEKIT_ADMIN_KEY).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _emit(as_json: bool, document: Any, text: str) -> None:
    if as_json:
        print(json.dumps(document, indent=2, default=str))
    else:
        stdout.print(text)


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
    from .manage import init_home

    result = init_home(home, root_keys_dir, root_keys, threshold, db)
    _emit(as_json, result, (
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

    from .manage import open_home
    from .serve import HOME_VARIABLE

    if db:
        os.environ["EDGEKIT_DB_URL"] = db  # the worker processes read their settings from the environment
    settings, database = open_home(home)  # fail here, in one line, rather than in each worker
    database.engine.dispose()
    os.environ[HOME_VARIABLE] = str(home.resolve())
    stderr.print(f"edgekit server: {home} on http://{host or settings.host}:{port if port is not None else settings.port} "
                 f"({workers or settings.workers} worker(s))")
    uvicorn.run("edgekit.fleet.serve:app", factory=True, host=host or settings.host,
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
    from .manage import open_home
    from .tuf_repo import Repository

    settings, database = open_home(home)
    result = Repository(settings, database).rotate(role, root_keys_dir or home.parent / f"{home.name}-root-keys")
    from .audit import record

    with database.session() as session:
        record(session, "cli", "rotate-keys", result)
    _emit(as_json, result, f"rotated the {role} key: root is now version {result['root_version']}")


@server_app.command("api-key")
def server_api_key(
    home: HomeOption,
    role: Annotated[str, typer.Option("--role", help="admin or operator (read-only, for dashboards).")] = "operator",
    as_json: JsonFlag = False,
) -> None:
    """Create an API key (printed once)."""
    from .manage import create_api_key, open_home

    settings, database = open_home(home)
    key_id, key = create_api_key(database, settings, role, "cli")
    _emit(as_json, {"key_id": key_id, "role": role, "key": key}, f"{role} key {key_id} (shown once): {key}")


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
    from .client import AdminClient

    client = AdminClient(server, admin_key)
    result = client.request("POST", "/v1/admin/enrollment-tokens",
                            json={"uses": uses, "expires_hours": hours, "profile": profile, "tags": tag or []})
    _emit(as_json, result, f"enrollment token ({uses} use(s), until {result['expires']}): {result['token']}")


def publish(
    artifact: Annotated[Path, typer.Argument(help="Artifact directory (edgekit compile --out).")],
    server: ServerOption,
    model: Annotated[str, typer.Option("--model", help="The model name devices follow.")],
    profile: Annotated[list[str] | None, typer.Option("--device-profile", help="Device profile (repeatable; default: "
                                                      "every profile the artifact passes edgekit check on).")] = None,
    admin_key: KeyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Upload ARTIFACT and register it as the next release of MODEL (assigned to no device until a rollout)."""
    from edgekit_runtime.archive import pack

    from ..artifact import Artifact, read_benchmarks
    from .client import AdminClient

    loaded = Artifact.load(artifact)  # refuse a damaged artifact before sending anything
    client = AdminClient(server, admin_key)
    uploaded = client.upload(pack(loaded.path))
    release = client.request("POST", "/v1/admin/releases", json={
        "model": model, "upload": uploaded["sha256"], "profiles": profile or [], "bench": read_benchmarks(loaded)})
    _emit(as_json, release, f"published {model} release {release['version']} ({release['target']}, {release['length']:,} B) "
                            f"for {', '.join(release['profiles'])}: {release['target_path']}\n"
                            f"next: edgekit rollout start --server {server} --model {model}")


def rollout_line(status: dict[str, Any]) -> str:
    devices = status["devices"]
    return (f"rollout {status['id']}: {status['model']} release {status['release']} {status['state']} at {status['percent']:g} % "
            f"(stages {', '.join(f'{stage:g}' for stage in status['stages'])}); profiles {', '.join(status['profiles'])}"
            + (f", tags {', '.join(status['tags'])}" if status["tags"] else "")
            + f"; {devices['running_this_release']} of {devices['in_scope']} devices in scope run it"
            + gate_line(status.get("gates")))


def gate_line(gates: dict[str, Any] | None) -> str:
    if not gates:
        return ""
    declared = ", ".join(f"{name}<={gates['spec'][name]:g}" for name in GATES if gates["spec"].get(name) is not None)
    last = gates.get("last") or {}
    if not last:
        return f"; gates {declared} (not judged yet)"
    verdicts = ", ".join(f"{result['gate']} {result['verdict']}" for result in last["gates"])
    return f"; gates {declared}: {last['verdict']} ({verdicts})" + (f"; {last['action']}: {last['reason']}" if last.get("reason") else "")


@rollout_app.command("start")
def rollout_start(
    server: ServerOption,
    model: Annotated[str, typer.Option("--model")],
    release: Annotated[int | None, typer.Option("--release", min=1, help="Default: the newest release.")] = None,
    stages: Annotated[str, typer.Option("--stages", help="Percentages, e.g. 1,10,50,100.")] = "1,10,50,100",
    profile: Annotated[list[str] | None, typer.Option("--profile", help="Only these device profiles (repeatable).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only devices with one of these tags (repeatable).")] = None,
    gate: Annotated[list[str] | None, typer.Option("--gate", help="A health gate, e.g. prediction_psi<=0.2, failure_rate<=0.05, "
                                                   "p99_latency_ratio<=1.5, error_rate<=0.02, or a setting: hold_seconds=60, "
                                                   "min_devices=3, on_fail=pause (repeatable).")] = None,
    gates_file: Annotated[Path | None, typer.Option("--gates", help="The gates as a YAML mapping (--gate wins).")] = None,
    admin_key: KeyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Start rolling a release out at the first stage; with gates, the server promotes it stage by
    stage while its canaries are healthy and pauses or rolls it back when a gate fails."""
    from .client import AdminClient
    from .gates import parse_gates
    from .rollouts import parse_stages

    spec = parse_gates(gate or [], gates_file)
    body = {"model": model, "release": release, "stages": parse_stages(stages), "profiles": profile or [], "tags": tag or [],
            "gates": spec.model_dump() if spec else None}
    status = AdminClient(server, admin_key).request("POST", "/v1/admin/rollouts", json=body)
    _emit(as_json, status, rollout_line(status))


@rollout_app.command("status")
def rollout_status(
    server: ServerOption,
    model: Annotated[str | None, typer.Option("--model")] = None,
    admin_key: KeyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Every rollout (of MODEL), with its stage and how many devices run it."""
    from .client import AdminClient

    statuses = AdminClient(server, admin_key).request("GET", "/v1/admin/rollouts", params={"model": model} if model else None)
    _emit(as_json, statuses, "\n".join(rollout_line(status) for status in statuses) or "no rollouts")


def _change(action: str):
    def command(
        rollout: Annotated[int, typer.Argument(help="Rollout id (see edgekit rollout status).")],
        server: ServerOption,
        admin_key: KeyOption = None,
        as_json: JsonFlag = False,
    ) -> None:
        from .client import AdminClient

        status = AdminClient(server, admin_key).request("POST", f"/v1/admin/rollouts/{rollout}/{action}")
        _emit(as_json, status, rollout_line(status))

    command.__doc__ = {
        "promote": "Move the rollout to its next stage (at 100 % it is complete).",
        "pause": "Stop the rollout where it is: no further devices take the release.",
        "resume": "Let a paused rollout go on.",
        "rollback": "Point every device of the rollout back to the release it ran before.",
    }[action]
    return command


for _action in ("promote", "pause", "resume", "rollback"):
    rollout_app.command(_action)(_change(_action))


@fleet_app.command("simulate")
def fleet_simulate(
    server: ServerOption,
    devices: Annotated[int, typer.Option("--devices", min=1, max=100_000, help="How many devices to simulate.")],
    profile: Annotated[str, typer.Option("--profile", help="Their device profile.")],
    model: Annotated[str, typer.Option("--model", help="The model they run.")],
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag every simulated device carries.")] = None,
    token: Annotated[str | None, typer.Option("--enrollment-token", help="Default: one made with the admin key.")] = None,
    poll_seconds: Annotated[float, typer.Option("--poll-seconds", min=0.05)] = 1.0,
    seconds: Annotated[float, typer.Option("--seconds", min=0.1, help="Stop after this long.")] = 300.0,
    until_converged: Annotated[bool, typer.Option("--until-converged", help="Stop once every device runs its release.")] = False,
    feed: Annotated[str | None, typer.Option("--feed", help="DATA the devices' sensors produce (e.g. "
                                             "synthetic:sensors?offset=8): they predict it and report telemetry each second.")] = None,
    admin_key: KeyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Run DEVICES simulated agents against SERVER: enroll, poll, install what the rollouts assign, report."""
    import asyncio

    from .client import AdminClient
    from .sim_telemetry import SensorFeed
    from .simulate import served_requests, simulate

    feeds = {"*": SensorFeed(feed)} if feed else None  # a bad DATA source fails here, before any device enrolls

    if token is None:
        token = AdminClient(server, admin_key).request("POST", "/v1/admin/enrollment-tokens", json={
            "uses": devices, "expires_hours": 24, "profile": profile, "tags": tag or []})["token"]
    before = served_requests(server)
    run = asyncio.run(simulate(server, devices, model, profile, tag or [], token, poll_seconds, seconds, until_converged,
                               None if as_json else lambda snapshot: stderr.print(f"  {snapshot['seconds']:7.2f} s  {snapshot['installed']}"),
                               feeds))
    result = {**run.as_dict(), "server_requests": served_requests(server) - before}
    _emit(as_json, result, (f"{devices} simulated devices: {'converged' if run.converged else 'not converged'} in {run.seconds:.1f} s; "
                            f"running {run.installed}; smoke-test refusals {run.failed or 'none'}; "
                            f"{result['server_requests']:,} requests served by the server"))


@rollout_app.command("pin")
def rollout_pin(
    server: ServerOption,
    model: Annotated[str, typer.Option("--model")],
    release: Annotated[int, typer.Option("--release", min=1)],
    device: Annotated[str, typer.Option("--device", help="Device id.")],
    unpin: Annotated[bool, typer.Option("--unpin", help="Remove the pin instead.")] = False,
    admin_key: KeyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Pin one device to a release, whatever the rollouts say (or --unpin it)."""
    from .client import AdminClient

    result = AdminClient(server, admin_key).request("POST", "/v1/admin/pins", json={
        "model": model, "release": release, "device_id": device, "unpin": unpin})
    _emit(as_json, result, f"{'unpinned' if unpin else 'pinned'} {device} {'from' if unpin else 'to'} {model} release {release}")


__all__ = ["fleet_app", "publish", "rollout_app", "server_app"]
