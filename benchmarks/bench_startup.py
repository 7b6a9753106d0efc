"""How long the ``edgekit`` command takes to start, in fresh processes, against its floors.

Every command runs in a new interpreter (what a user waits for), all of them in the same
interleaved rounds; the figure is the median wall time. The floors run in the same rounds:
Python itself (``python -c pass``) and a bare two-command Typer app printing its --help (Typer and
Rich's help rendering, which every edgekit help screen pays). ``--baseline REF`` also times the
commands of a git revision (e.g. the commit before issue 17, when ``import edgekit`` loaded
scikit-learn, SciPy, XGBoost and ONNX), run from a worktree of it with the same interpreter.

    .venv/bin/python benchmarks/bench_startup.py [--rounds 11] [--baseline REF] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import machine_line, write_results

ROOT = Path(__file__).resolve().parents[1]
TYPER_FLOOR = """
import typer
app = typer.Typer()
@app.command()
def one(x: int = 1) -> None:
    "A command."
@app.command()
def two() -> None:
    "Another."
app()
"""
# (row, edgekit arguments, target in seconds from issue 17); ARTIFACT is built once, below
COMMANDS = (
    ("edgekit --help", ["--help"], 0.3),
    ("edgekit --version", ["--version"], 0.3),
    ("edgekit compile --help", ["compile", "--help"], 0.3),
    ("edgekit server --help", ["server", "--help"], 0.3),
    ("edgekit rollout start --help", ["rollout", "start", "--help"], 0.3),
    ("edgekit devices list", ["devices", "list"], 0.5),
    ("edgekit check ARTIFACT --device raspberry-pi-4b", ["check", "ARTIFACT", "--device", "raspberry-pi-4b"], 0.7),
)


def wall_seconds(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 1):  # check exits 1 when a device says no
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr.decode()[-300:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--baseline", help="A git revision to time as well, e.g. HEAD~1.")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="edgekit-startup-") as scratch:
        work = Path(scratch)
        env = {**os.environ, "EDGEKIT_HOME": str(work / "home"), "COLUMNS": "100"}
        edgekit = [python, "-m", "edgekit.cli"]
        subprocess.run([*edgekit, "train", "bundled:breast-cancer", "--out", str(work / "b")], check=True, env=env, capture_output=True)
        subprocess.run([*edgekit, "compile", str(work / "b"), "--target", "onnx", "--out", str(work / "a")],
                       check=True, env=env, capture_output=True)
        systems: dict[str, tuple[list[str], Path, dict[str, str]]] = {
            "python -c pass (floor)": ([python, "-c", "pass"], work, env),
            "bare Typer app --help (floor)": ([python, "-c", TYPER_FLOOR, "--help"], work, env),
        }
        for row, arguments, _ in COMMANDS:
            concrete = [str(work / "a") if argument == "ARTIFACT" else argument for argument in arguments]
            systems[row] = ([*edgekit, *concrete], ROOT, env)
            if args.baseline:
                systems[f"{row} @ {args.baseline}"] = ([*edgekit, *concrete], work, {**env, "PYTHONPATH": str(work / "base") + os.pathsep + str(work / "base" / "runtimes" / "python")})
        if args.baseline:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(work / "base"), args.baseline],
                           check=True, capture_output=True)
        try:
            samples: dict[str, list[float]] = {name: [] for name in systems}
            for _ in range(args.rounds):  # interleaved: every system once per round
                for name, (command, cwd, environment) in systems.items():
                    samples[name].append(wall_seconds(command, cwd, environment))
        finally:
            if args.baseline:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "base")],
                               capture_output=True, check=False)
    targets = {row: target for row, _, target in COMMANDS}
    results = []
    for name, values in samples.items():
        row = name.split(" @ ")[0]
        results.append({"command": name, "median_s": statistics.median(values), "min_s": min(values), "max_s": max(values),
                        "rounds": len(values), "target_s": targets.get(row) if " @ " not in name else None})
    page = write_results(args.out, "bench_startup", results, markdown, rounds=str(args.rounds))
    print(page.read_text())


def markdown(results: list[dict], machine: dict) -> str:
    floor = next(entry["median_s"] for entry in results if entry["command"].startswith("bare Typer"))
    lines = [
        "# Start-up of the edgekit command", "",
        (f"{machine_line(machine)}. Median wall time of {machine['rounds']} fresh processes per row, all rows in the "
         "same interleaved rounds (`benchmarks/bench_startup.py`). Floor: a bare two-command Typer app printing its "
         "--help; over floor = the row minus that floor."), "",
        "| command | median s | min–max s | target s | over floor s |",
        "|---|---:|---:|---:|---:|",
    ]
    for entry in results:
        target = f"{entry['target_s']:.1f}" if entry["target_s"] else ""
        over = "" if "floor" in entry["command"] else f"{entry['median_s'] - floor:+.2f}"
        lines.append(f"| {entry['command']} | {entry['median_s']:.3f} | {entry['min_s']:.2f}–{entry['max_s']:.2f} | {target} | {over} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
