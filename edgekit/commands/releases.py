"""``edgekit publish`` and ``edgekit rollout start|status|promote|pause|resume|rollback|pin``: releases
on the server, and how they reach the fleet."""

from pathlib import Path
from typing import Annotated

import typer

from ..fleet.status_lines import rollout_line
from .common import JsonFlag, KeyOption, ServerOption, emit, examples

rollout_app = typer.Typer(help="Stage a release out to the fleet, and stop or undo it.", no_args_is_help=True)


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
    from ..display.figures import size
    from ..fleet.client import AdminClient

    loaded = Artifact.load(artifact)  # refuse a damaged artifact before sending anything
    client = AdminClient(server, admin_key)
    uploaded = client.upload(pack(loaded.path))
    release = client.request("POST", "/v1/admin/releases", json={
        "model": model, "upload": uploaded["sha256"], "profiles": profile or [], "bench": read_benchmarks(loaded)})
    emit(as_json, release, f"published {model} release {release['version']} ({release['target']}, {size(release['length'])}) "
                           f"for {', '.join(release['profiles'])}: {release['target_path']}\n"
                           f"next: edgekit rollout start --server {server} --model {model}")


@rollout_app.command("start", epilog=examples(
    "edgekit rollout start --server http://127.0.0.1:8080 --model breast-cancer",
    "edgekit rollout start --model breast-cancer --gate 'prediction_psi<=0.2'"))
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
    from ..fleet.client import AdminClient
    from ..server.monitoring.gates import parse_gates
    from ..server.repository.rollouts import parse_stages

    spec = parse_gates(gate or [], gates_file)
    body = {"model": model, "release": release, "stages": parse_stages(stages), "profiles": profile or [], "tags": tag or [],
            "gates": spec.model_dump() if spec else None}
    status = AdminClient(server, admin_key).request("POST", "/v1/admin/rollouts", json=body)
    emit(as_json, status, rollout_line(status))


RolloutId = Annotated[int, typer.Argument(min=1, metavar="ROLLOUT", help="Rollout id (see edgekit rollout status).")]


@rollout_app.command("status", epilog=examples(
    "edgekit rollout status --server http://127.0.0.1:8080", "edgekit rollout status 1", "edgekit rollout status --model breast-cancer --json"))
def rollout_status(
    server: ServerOption,
    rollout: Annotated[int | None, typer.Argument(min=1, metavar="[ROLLOUT]", show_default=False,
                                                  help="Only this rollout id, as promote/pause/resume/rollback take it.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only the rollouts of this model.")] = None,
    admin_key: KeyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Every rollout (of MODEL), or one ROLLOUT, with its stage and how many devices run it."""
    from ..errors import BadInput
    from ..fleet.client import AdminClient

    client = AdminClient(server, admin_key)
    if rollout is not None:  # the same id promote takes: one rollout, as promote prints it
        if model is not None:
            raise BadInput("give a rollout id or --model, not both", f"e.g. edgekit rollout status {rollout} --server URL")
        status = client.request("GET", f"/v1/admin/rollouts/{rollout}")
        emit(as_json, status, rollout_line(status))
        return
    statuses = client.request("GET", "/v1/admin/rollouts", params={"model": model} if model else None)
    emit(as_json, statuses, "\n".join(rollout_line(status) for status in statuses) or "no rollouts")


def _change(action: str):
    def command(
        rollout: RolloutId,
        server: ServerOption,
        admin_key: KeyOption = None,
        as_json: JsonFlag = False,
    ) -> None:
        from ..fleet.client import AdminClient

        status = AdminClient(server, admin_key).request("POST", f"/v1/admin/rollouts/{rollout}/{action}")
        emit(as_json, status, rollout_line(status))

    command.__doc__ = {
        "promote": "Move the rollout to its next stage (at 100 % it is complete).",
        "pause": "Stop the rollout where it is: no further devices take the release.",
        "resume": "Let a paused rollout go on.",
        "rollback": "Point every device of the rollout back to the release it ran before.",
    }[action]
    return command


for _action in ("promote", "pause", "resume", "rollback"):
    rollout_app.command(_action, epilog=examples(f"edgekit rollout {_action} 1 --server http://127.0.0.1:8080",
                                                 f"EDGEKIT_SERVER=http://127.0.0.1:8080 edgekit rollout {_action} 1"))(_change(_action))


@rollout_app.command("pin", epilog=examples(
    "edgekit rollout pin --model breast-cancer --release 1 --device dev-42",
    "edgekit rollout pin --model breast-cancer --release 1 --device dev-42 --unpin"))
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
    from ..fleet.client import AdminClient

    result = AdminClient(server, admin_key).request("POST", "/v1/admin/pins", json={
        "model": model, "release": release, "device_id": device, "unpin": unpin})
    emit(as_json, result, f"{'unpinned' if unpin else 'pinned'} {device} {'from' if unpin else 'to'} {model} release {release}")
