"""``edgekit compile``: a bundle into an artifact for one target, or (``--target auto``) the best
build that fits a device."""

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import BadInput
from .common import JsonFlag, parse_pairs, report, stdout
from .progress import progress


def compile_command(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory (output of edgekit train).")],
    target: Annotated[str, typer.Option("--target", help="onnx, onnx-fp16, onnx-int8, c, tflite, tflite-int8, or auto (with --device).")],
    out: Annotated[Path, typer.Option("--out", help="Artifact directory (new, empty, or an artifact of this bundle).")],
    device: Annotated[str | None, typer.Option("--device", help="Device profile id: its runtime decides the opset or C triple.")] = None,
    triple: Annotated[str | None, typer.Option("--triple", help="C target: the toolchain triple (default: this machine).")] = None,
    layout: Annotated[str | None, typer.Option("--layout", help="C target, trees: table (default), ifelse (TL2cgen), compact (least flash) or inline (fewest instructions, small forests).")] = None,
    quantize: Annotated[str | None, typer.Option("--quantize", help="C target: none, thresholds, int16 or int8.")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="Backend option KEY=VALUE (repeatable).")] = None,
    prefer: Annotated[str, typer.Option("--prefer", help="--target auto: keep the smallest (size) or fastest (speed) build that fits.")] = "size",
    as_json: JsonFlag = False,
) -> None:
    """Compile a bundle for a target and prove parity with the original model."""
    from .. import reporting
    from ..compile.build import compile_bundle
    from ..devices import load_profile
    from ..devices.boards import compile_for_device

    if target == "auto":
        if device is None or triple or layout or quantize or option:
            raise BadInput("--target auto needs --device and chooses the build itself", "drop --triple/--layout/--quantize/--option, add --device ID")
        _fit(bundle, load_profile(device), out, prefer, as_json)
        return
    if prefer != "size":
        raise BadInput("--prefer is for --target auto", "drop --prefer, or use --target auto --device ID")
    options = parse_pairs(option or [], "--option", "e.g. --option int8=dynamic")
    for key, value in (("triple", triple), ("layout", layout), ("quantize", quantize)):
        if value is not None:
            if key in options and options[key] != value:
                raise BadInput(f"--{key} {value} contradicts --option {key}={options[key]}", f"give {key} once")
            options[key] = value
    profile = load_profile(device) if device else None
    with progress(f"compiling {bundle} for {target}"):
        if profile is not None and target == "c":  # a board's C build must fit it: else name the board it needs
            artifact = compile_for_device(bundle, target, out, options, profile)
        else:
            artifact = compile_bundle(bundle, target, out, options=options, device=profile)
    report(as_json, reporting.artifact_summary(artifact), lambda: reporting.print_artifact(stdout, artifact))


def _fit(bundle: Path, profile: Any, out: Path, prefer: str, as_json: bool) -> None:
    from .. import reporting
    from ..devices.autofit import fit_to_device
    from ..devices.console import candidate_line, print_fit

    with progress(f"fitting {bundle} to {profile.id}", keep=True) as step:
        result = fit_to_device(bundle, profile, out, prefer, on_attempt=lambda attempt, _total: step(candidate_line(attempt)))
    report(as_json, {**result.as_dict(), "artifact": reporting.artifact_summary(result.chosen)},
           lambda: print_fit(stdout, result))
