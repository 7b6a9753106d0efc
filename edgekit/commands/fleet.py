"""``edgekit fleet simulate``: simulated devices against a server, for rollout demos and load tests."""

from typing import Annotated

import typer

from .common import JsonFlag, KeyOption, ServerOption, emit, examples
from .progress import progress

fleet_app = typer.Typer(help="Simulated fleets for rollout demos and load tests.", no_args_is_help=True)


@fleet_app.command("simulate", epilog=examples(
    "edgekit fleet simulate --devices 50 --profile raspberry-pi-4b --model sensors",
    "edgekit fleet simulate --devices 5000 --profile jetson-orin-nano --model m"))
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

    from ..display.figures import count, duration, mapping
    from ..fleet.client import AdminClient
    from ..fleet.sim_telemetry import SensorFeed
    from ..fleet.simulate import served_requests, simulate

    feeds = {"*": SensorFeed(feed)} if feed else None  # a bad DATA source fails here, before any device enrolls

    if token is None:
        token = AdminClient(server, admin_key).request("POST", "/v1/admin/enrollment-tokens", json={
            "uses": devices, "expires_hours": 24, "profile": profile, "tags": tag or []})["token"]
    before = served_requests(server)
    with progress(f"simulating {devices} devices", keep=True) as step:
        run = asyncio.run(simulate(server, devices, model, profile, tag or [], token, poll_seconds, seconds, until_converged,
                                   lambda snapshot: step(f"{duration(snapshot['seconds'])}: {mapping(snapshot['installed'])}"), feeds))
    result = {**run.as_dict(), "server_requests": served_requests(server) - before}
    emit(as_json, result, (f"{count(devices)} simulated devices: {'converged' if run.converged else 'not converged'} in "
                           f"{duration(run.seconds)}; running {mapping(run.installed)}; smoke-test refusals {mapping(run.failed)}; "
                           f"{count(result['server_requests'])} requests served by the server"
                           + (f"; {count(run.unreachable)} polls found no server" if run.unreachable else "")))
