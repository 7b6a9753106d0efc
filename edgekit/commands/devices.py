"""``edgekit devices list|show`` and ``edgekit check``: the device profiles, and whether an artifact
runs on them."""

from pathlib import Path
from typing import Annotated

import typer

from ..errors import BadInput
from .common import JsonFlag, examples, report, stdout

devices_app = typer.Typer(help="List and show the device profiles in device_configs/.", no_args_is_help=True)


@devices_app.command("list", epilog=examples("edgekit devices list", "edgekit devices list --json"))
def devices_list(as_json: JsonFlag = False) -> None:
    """A table of every device profile and its key figures."""
    from ..devices import all_profiles
    from ..devices.console import print_profiles

    profiles = all_profiles()
    report(as_json, [profile.model_dump() for profile in profiles], lambda: print_profiles(stdout, profiles))


@devices_app.command("show", epilog=examples("edgekit devices show stm32f407"))
def devices_show(
    device_id: Annotated[str, typer.Argument(metavar="ID", help="Device id (edgekit devices list).")],
    as_json: JsonFlag = False,
) -> None:
    """Everything one profile says, with its sources."""
    from ..devices import load_profile
    from ..devices.console import print_profile

    profile = load_profile(device_id)
    report(as_json, profile.model_dump(), lambda: print_profile(stdout, profile))


def check_command(
    artifact: Annotated[Path, typer.Argument(help="Artifact directory.")],
    device: Annotated[list[str] | None, typer.Option("--device", help="Device id (repeatable).")] = None,
    all_devices: Annotated[bool, typer.Option("--all", help="Check every profile and print a matrix.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Will ARTIFACT run on these devices? One verdict per device; exit 1 if any fails."""
    from ..artifact import Artifact, device_latencies
    from ..devices import all_profiles, load_profile
    from ..devices.check import check_descriptor
    from ..devices.console import print_matrix, print_reports

    if bool(device) == all_devices:
        raise BadInput("name devices with --device ID (repeatable) or check them all with --all", "see edgekit devices list")
    profiles = all_profiles() if all_devices else [load_profile(device_id) for device_id in dict.fromkeys(device or [])]
    loaded = Artifact.load(artifact)
    # p99 figures recorded by edgekit bench take the place of the cost model's estimates
    reports = check_descriptor({**loaded.info.model_dump(), "benchmarks": device_latencies(loaded)}, profiles)
    show = print_matrix if all_devices else print_reports
    report(as_json, {"artifact": str(artifact), "devices": [entry.as_dict() for entry in reports]},
           lambda: show(stdout, str(artifact), reports))
    if any(entry.verdict == "fail" for entry in reports):
        raise typer.Exit(1)
