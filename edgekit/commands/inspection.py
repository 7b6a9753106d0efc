"""``edgekit bundle show|verify`` and ``edgekit artifact show|verify``: what a bundle or an artifact
holds, and whether it is intact and still behaves as certified."""

from pathlib import Path
from typing import Annotated

import typer

from .common import JsonFlag, examples, report, stdout

BundleDirectory = Annotated[Path, typer.Argument(help="Bundle directory.")]
ArtifactDirectory = Annotated[Path, typer.Argument(help="Artifact directory.")]
bundle_app = typer.Typer(help="Inspect and verify model bundles.", no_args_is_help=True)
artifact_app = typer.Typer(help="Inspect and verify compiled artifacts.", no_args_is_help=True)


@bundle_app.command("show", epilog=examples("edgekit bundle show b1"))
def bundle_show(
    path: BundleDirectory,
    as_json: JsonFlag = False,
) -> None:
    """Print what a bundle holds (after verifying its hashes)."""
    from .. import reporting
    from ..bundle import ModelBundle

    bundle = ModelBundle.load(path)
    report(as_json, bundle.info.model_dump(), lambda: reporting.print_bundle(stdout, bundle))


@bundle_app.command("verify", epilog=examples("edgekit bundle verify b1"))
def bundle_verify(
    path: BundleDirectory,
    as_json: JsonFlag = False,
) -> None:
    """Check a bundle's format and hashes, load its model and reproduce its reference outputs."""
    from ..bundle import ModelBundle

    bundle = ModelBundle.load(path)
    difference = bundle.check_reference()
    result = {
        "ok": True,
        "bundle": str(path),
        "files": len(bundle.info.files),
        "content_hash": bundle.info.content_hash,
        "reference_rows": int(bundle.reference()["X"].shape[0]),
        "reference_max_abs_diff": difference,
    }
    report(as_json, result, lambda: stdout.print(
        f"ok: {path} — {result['files']} files match their hashes; the model reproduces "
        f"{result['reference_rows']} reference rows (max abs diff {difference:.3g})"
    ))


@artifact_app.command("show", epilog=examples("edgekit artifact show b1-onnx"))
def artifact_show(
    path: ArtifactDirectory,
    as_json: JsonFlag = False,
) -> None:
    """Print what an artifact holds (after verifying its hashes)."""
    from .. import reporting
    from ..artifact import Artifact

    artifact = Artifact.load(path)
    report(as_json, artifact.info.model_dump(), lambda: reporting.print_artifact(stdout, artifact))


@artifact_app.command("verify", epilog=examples("edgekit artifact verify b1-onnx"))
def artifact_verify(
    path: ArtifactDirectory,
    as_json: JsonFlag = False,
) -> None:
    """Check an artifact's hashes, run it on its bundle's reference rows, compare with its certificate."""
    from ..artifact import Artifact
    from ..compile.verify import verify_artifact

    result = verify_artifact(Artifact.load(path))
    report(as_json, result, lambda: stdout.print(
        f"ok: {path} — {result['files']} files match their hashes; {result['rows']} reference rows "
        f"reproduce their certified outputs (max abs diff {result['max_abs_diff']:.3g}, allowed {result['allowed']:.3g})"
    ))
