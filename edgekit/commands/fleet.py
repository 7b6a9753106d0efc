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
    keep_devices: Annotated[bool, typer.Option("--keep-devices", help="Leave the simulated devices enrolled "
                                               "(by default the run deletes them when it ends).")] = False,
    admin_key: KeyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Run DEVICES simulated agents against SERVER: enroll, poll, install what the rollouts assign, report.

    The devices carry the run's tag (run:simulated-…) and are deleted when the run ends (needs the
    admin key), unless --keep-devices. The run ends when every device runs its release
    (--until-converged) or after --seconds ("timed out"); it exits 0 either way.
    """
    import asyncio

    from ..display.figures import count, duration, mapping
    from ..fleet.client import AdminClient
    from ..fleet.sim_telemetry import SensorFeed
    from ..fleet.simulate import delete_devices, served_requests, simulate

    feeds = {"*": SensorFeed(feed)} if feed else None  # a bad DATA source fails here, before any device enrolls

    admin = AdminClient(server, admin_key) if token is None or not keep_devices else None  # no key: one line, before enrolling
    if token is None:
        token = admin.request("POST", "/v1/admin/enrollment-tokens", json={
            "uses": devices, "expires_hours": 24, "profile": profile, "tags": tag or []})["token"]
    before = served_requests(server)
    with progress(f"simulating {devices} devices", keep=True) as step:
        run = asyncio.run(simulate(server, devices, model, profile, tag or [], token, poll_seconds, seconds, until_converged,
                                   lambda snapshot: step(f"{duration(snapshot['seconds'])}: {mapping(snapshot['installed'])}"), feeds,
                                   None if keep_devices else lambda run_tag: delete_devices(admin, run_tag)))
    result = {**run.as_dict(), "server_requests": served_requests(server) - before}
    ended = (f"converged in {duration(run.seconds)}" if run.stopped == "converged" else
             f"timed out after {duration(run.seconds)} (--seconds)" + (" before every device ran its release" if until_converged else ""))
    left = f"kept, tagged {run.run_tag}" if run.removed is None else f"{count(run.removed)} deleted"
    emit(as_json, result, (f"{count(devices)} simulated devices: {ended}; "
                           f"running {mapping(run.installed)}; smoke-test refusals {mapping(run.failed)}; "
                           f"{count(result['server_requests'])} requests served by the server"
                           + (f"; {count(run.unreachable)} polls found no server" if run.unreachable else "")
                           + f"; devices {left}"))
