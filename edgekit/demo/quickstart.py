"""``edgekit quickstart``: the end-to-end story on bundled data, as far as edgekit goes today."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit_runtime.archive import pack
from rich.console import Console

from .. import reporting
from ..artifact import Artifact, device_latencies, read_benchmarks
from ..compile.build import compile_bundle
from ..devices import all_profiles, load_profile
from ..devices.autofit import fit_to_device
from ..devices.check import check_descriptor
from ..devices.console import print_artifact_matrix, print_fit
from ..display.figures import size
from ..errors import BadInput, MissingTool
from ..training import train_bundle

# (step name, data, family, builds, board to auto-fit, benchmarks): what the quickstart trains and
# compiles; a build is (artifact suffix, target, options, device it is compiled for). C builds for
# other ISAs run when their toolchain is here. Benchmarks: (artifacts timed here, the artifact
# emulated on devices, those devices: one ARM Linux board, one Cortex-M).
STEPS = (
    ("breast-cancer-xgboost", "bundled:breast-cancer", "xgboost", (
        ("onnx", "onnx", {}, "raspberry-pi-4b"),
        ("c", "c", {}, None),
        ("c-aarch64", "c", {"triple": "aarch64-linux-gnu", "quantize": "int16"}, None),
        ("c-cortex-m4f", "c", {"triple": "cortex-m4f", "quantize": "int16"}, None),
        ("tflite", "tflite", {}, None),
    ), "stm32f407", (("onnx", "c", "tflite"), "c", ("raspberry-pi-4b", "stm32f407"))),
    ("digits-mlp", "bundled:digits", "mlp", (
        ("onnx", "onnx", {}, "raspberry-pi-4b"),
        ("onnx-int8", "onnx-int8", {}, "raspberry-pi-4b"),
        ("c-int8", "c", {"quantize": "int8"}, None),
        ("tflite-int8", "tflite-int8", {}, "android-midrange-arm64"),  # what the Android profile's LiteRT runs
    ), None, None),
)


def _missing_toolchain(options: dict[str, str]) -> str | None:
    """The packages to install for a C build's triple (its compiler and its emulator both, so one
    apt-get line is enough), or None when it can build and run here."""
    from ..compile.c.toolchains import HOST_TRIPLE, require_compiler, require_runner, toolchain_for

    toolchain = toolchain_for(options.get("triple", HOST_TRIPLE))
    missing = []
    for require in (require_compiler, require_runner):
        try:
            require(toolchain)
        except MissingTool as exc:
            missing.append(exc.package)
    return " ".join(missing) or None


def run_quickstart(workdir: Path, console: Console | None, progress_console: Console) -> dict[str, Any]:
    """Train and verify each step's bundle under ``workdir``; print as it goes unless console is None."""
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"workdir": str(workdir.resolve()), "bundles": [], "artifacts": []}
    profiles = all_profiles()
    shipped: dict[str, list[Any]] = {}
    for name, data, family, builds, board, benchmarks in STEPS:
        with reporting.training_progress(progress_console, family, 0) as on_trial:
            bundle = train_bundle(data, workdir / name, family=family, name=name, on_trial=on_trial)
        difference = bundle.check_reference()
        results["bundles"].append({**reporting.bundle_summary(bundle), "reference_max_abs_diff": difference})
        if console is not None:
            reporting.print_training(console, bundle)
            console.print(f"verified: hashes match and the model reproduces its reference rows (max abs diff {difference:.3g})")
        artifacts = {}
        for suffix, target, options, device in builds:
            missing = _missing_toolchain(options) if target == "c" else None
            if missing:
                results.setdefault("skipped", []).append({"artifact": f"{name}-{suffix}", "install": missing})
                if console is not None:
                    console.print(f"skipped {suffix}: its toolchain is not installed (apt-get install {missing})")
                continue
            with reporting.spinner(progress_console, f"compiling {name} for {suffix}"):
                profile = load_profile(device) if device else None
                artifact = compile_bundle(bundle, target, workdir / f"{name}-{suffix}", options=options, device=profile)
            artifacts[suffix] = artifact
            results["artifacts"].append(reporting.artifact_summary(artifact))
            if console is not None:
                console.print(f"compiled {suffix}: {artifact.path}; {_size_line(artifact)}; " + reporting.parity_line(artifact.info.parity))
        if benchmarks is not None:
            _bench(name, artifacts, benchmarks, workdir / "bench.html", results, console, progress_console)
        verdicts = {suffix: check_descriptor({**artifact.info.model_dump(), "benchmarks": device_latencies(artifact)}, profiles)
                    for suffix, artifact in artifacts.items()}
        results.setdefault("checks", {}).update(
            {f"{name}-{suffix}": {report.device: report.verdict for report in reports} for suffix, reports in verdicts.items()})
        if console is not None:
            print_artifact_matrix(console, name, verdicts)
        shipped[name] = list(artifacts.values())
        if board is not None:
            fitted = _fit(bundle.path, load_profile(board), workdir / f"{name}-{board}", results, console, progress_console)
            shipped[name] += [fitted] if fitted is not None else []
        if console is not None:
            console.print()
    from .import_story import import_story

    import_story(workdir, results, console, progress_console, _missing_toolchain)
    if console is not None:
        console.print()
    _deliver(workdir / "server", shipped, results, console, progress_console)
    if console is not None and results.get("skipped"):
        packages = " ".join(dict.fromkeys(package for entry in results["skipped"] for package in entry["install"].split()))
        console.print(f"skipped {len(results['skipped'])} steps whose tools are not installed; to run them: "
                      f"sudo apt-get install --no-install-recommends {packages} (or run `make demo` as root)")
    if console is not None:
        console.print(
            f"done: bundles and artifacts in {results['workdir']}. Next: `edgekit artifact show "
            f"{workdir / STEPS[1][0]}-onnx-int8`, `edgekit check {workdir / STEPS[0][0]}-onnx --all`, `edgekit runs`."
        )
    return results


def _fit(bundle: Path, profile: Any, out: Path, results: dict[str, Any], console: Console | None, progress: Console) -> Any:
    """Auto-fit the bundle to a microcontroller board, when its toolchain is here; the artifact kept."""
    missing = _missing_toolchain({"triple": profile.c_triple()})
    if missing:
        results.setdefault("skipped", []).append({"artifact": out.name, "install": missing})
        if console is not None:
            console.print(f"skipped auto-fit for {profile.id}: its toolchain is not installed (apt-get install {missing})")
        return None
    with reporting.spinner(progress, f"fitting {bundle.name} to {profile.id}"):
        fitted = fit_to_device(bundle, profile, out)
    results.setdefault("fits", []).append(fitted.as_dict())
    if console is not None:
        print_fit(console, fitted)
    return Artifact.load(out)


ROLLOUT = ("breast-cancer-xgboost", "raspberry-pi-4b", "10,50,100")  # (model, profile, stages) of the demo rollout
FLEET_DEVICES = 50


def _deliver(home: Path, shipped: dict[str, list[Any]], results: dict[str, Any], console: Console | None, progress: Console) -> None:
    """A local update server: publish every artifact that runs on some device, start a 10 % rollout
    of the XGBoost model to Raspberry Pi 4s, let a simulated fleet of 50 follow it to 100 %, then
    publish a deliberately broken build that the canaries refuse. The home is made afresh."""
    import asyncio
    import shutil

    from ..fleet.client import AdminClient
    from ..fleet.status_lines import rollout_line
    from ..server.home import create_api_key, init_home, open_home
    from ..server.local import local_server
    from .drift_story import SERVER_SETTINGS, drift_story
    from .fleet_story import broken_copy, fleet_story

    for path in (home, home.parent / f"{home.name}-root-keys"):
        shutil.rmtree(path, ignore_errors=True)
    created = init_home(home, None, 3, 2, None)
    published, skipped = [], []
    with local_server(home, **SERVER_SETTINGS) as url, reporting.spinner(progress, "publishing to a local update server"):
        client = AdminClient(url, created["admin_key"])
        for model, artifacts in shipped.items():
            for artifact in artifacts:
                try:
                    upload = client.upload(pack(artifact.path))
                    published.append(client.request("POST", "/v1/admin/releases", json={
                        "model": model, "upload": upload["sha256"], "bench": read_benchmarks(artifact)}))
                except BadInput as exc:  # e.g. a host build that runs on no device profile
                    skipped.append({"artifact": artifact.path.name, "reason": exc.message})
        model, profile, stages = ROLLOUT
        candidates = [release for release in published if release["model"] == model and profile in release["profiles"]]
        rollout = client.request("POST", "/v1/admin/rollouts", json={
            "model": model, "release": candidates[0]["version"], "stages": [float(stage) for stage in stages.split(",")],
            "profiles": [profile]}) if candidates else None
        story = None
        if rollout is not None:  # a simulated fleet follows it, then refuses a broken release
            started_at = dict(rollout)
            good = next(artifact for artifact in shipped[model] if artifact.info.target == candidates[0]["target"])
            broken = broken_copy(good.path, home / "broken-artifact")
            story = asyncio.run(fleet_story(url, client, model, profile, rollout["id"], broken, FLEET_DEVICES,
                                            console.print if console is not None else lambda line: None))
            rollout = started_at
        say = console.print if console is not None else lambda line: None
        say("finale: the fleet's data drifts, edgekit notices, retrains and redeploys on its own")
        finale = asyncio.run(drift_story(url, client, home.parent / "pipeline", say))
        client.close()
    settings, database = open_home(home)
    operator_key = create_api_key(database, settings, "operator", "quickstart")[1]
    database.engine.dispose()
    results["server"] = {"home": str(home.resolve()), "releases": published, "not_published": skipped, "rollout": rollout,
                         "fleet": story, "finale": finale, "operator_key": operator_key}
    if console is not None:
        for release in published:
            console.print(f"published {release['model']} release {release['version']} ({release['target']}) "
                          f"for {', '.join(release['profiles'])}")
        if rollout is not None:
            console.print(rollout_line(rollout))
        console.print(f"update server: edgekit server run --home {home} (admin key: {created['admin_key']})")
        console.print(f"dashboard: run the server as above, then open http://127.0.0.1:8080/dashboard "
                      f"(user: anything, password: the operator key {operator_key})")


def _bench(name: str, artifacts: dict[str, Any], benchmarks: tuple[Any, ...], report_path: Path, results: dict[str, Any],
           console: Console | None, progress: Console) -> None:
    """Time the artifacts here, emulate the C one on the boards whose toolchains are here, write the report."""
    from ..bench.console import bench_rows, print_bench_table
    from ..bench.native import NativeSettings
    from ..bench.report import write_report
    from ..bench.run import bench_artifact

    native_suffixes, emulated_suffix, boards = benchmarks
    profiles = [load_profile(board) for board in boards]
    reachable = []
    for profile in profiles:
        missing = _missing_toolchain({"triple": profile.c_triple()})
        if missing is None:
            reachable.append(profile)
            continue
        results.setdefault("skipped", []).append({"artifact": f"{name}-{emulated_suffix} emulated on {profile.id}", "install": missing})
        if console is not None:
            console.print(f"skipped the emulated benchmark on {profile.id}: its toolchain is not installed (apt-get install {missing})")
    settings = NativeSettings(runs=500, warmup=50, batch=1000)
    reports = []
    with reporting.steps_progress(progress, "benchmarking", len(native_suffixes) + len(reachable)) as advance:
        for suffix in native_suffixes:
            if suffix in artifacts:
                devices = reachable if suffix == emulated_suffix else []
                reports.append(bench_artifact(artifacts[suffix].path, devices, bool(devices), settings, advance))
    write_report(report_path, reports)
    results["benchmarks"] = bench_rows(reports)
    results["bench_report"] = str(report_path.resolve())
    if console is not None:
        print_bench_table(console, reports, prefix=name)
        console.print(f"benchmark report: {report_path}")


def _size_line(artifact: Any) -> str:
    info = artifact.info
    if info.runtime["name"] != "c":
        return size(info.resources['model_bytes'])
    triple = info.runtime["triple"]
    run = info.options["parity_run"]
    return f"{triple}, {reporting.footprint_line(info.resources[triple])}, checked {'natively' if run == 'native' else 'under ' + run}"
