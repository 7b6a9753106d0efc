"""A C artifact on a device's instruction set, emulated: ARM Linux under qemu-user, Cortex-M boards
under qemu-system-arm. Wall time under an emulator says nothing about the device, so this counts
the instructions one inference executes (exact and repeatable), and checks that the emulated ISA
predicts what the artifact certified.

The harness links the artifact's own static library when it was built for the device's triple;
otherwise it rebuilds the artifact's shipped sources (src/) with the device's toolchain, the same
flags compile uses, and says so.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from edgekit_runtime.smoke import REFERENCE_FILE

from ..artifact import Artifact
from ..compile.c.ifelse import TL2CGEN_WARNINGS
from ..compile.c.instruction_count import CountedRun, count_instructions
from ..compile.c.toolchains import Toolchain, build_harness, compile_objects, require_compiler, toolchain_for
from ..devices.profiles import DeviceProfile
from ..errors import CheckFailed, MissingTool

ROWS_FILE = "rows.csv"  # the bare-metal harness opens it on the host through semihosting


@dataclass(frozen=True)
class EmulatedRun:
    device: str
    emulator: str
    triple: str
    library: str  # which code ran: the shipped library or a rebuild of the shipped sources
    rebuilt: bool
    rows: int
    instructions_per_inference: float
    instruction_counts: tuple[int, int]  # whole runs: 1 pass and 2 passes over the rows
    max_abs_diff: float  # emulated outputs vs the outputs certified at compile time
    matches_reference: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def unavailable(artifact: Artifact, profile: DeviceProfile) -> str | None:
    """Why this artifact cannot be emulated for this device, or None when it can."""
    if artifact.info.runtime["name"] != "c":
        return f"emulation runs C artifacts; a {artifact.info.runtime['name']} artifact gets the cost-model estimate"
    if profile.emulation.mode == "native":
        return "the device runs this machine's instruction set: see the native figures"
    if profile.emulation.mode == "none" or profile.runtimes.c is None:
        return f"edgekit has no emulator or toolchain for the {profile.cpu.core}"
    return None


def emulate(artifact: Artifact, profile: DeviceProfile, work: Path) -> EmulatedRun:
    """Count the instructions of one inference of ``artifact`` on ``profile``'s ISA."""
    toolchain = toolchain_for(profile.c_triple())
    require_compiler(toolchain)
    binary = profile.emulation.binary or toolchain.runner[0]
    if shutil.which(binary) is None:
        raise MissingTool(binary, toolchain.runner_package or binary)
    work.mkdir(parents=True, exist_ok=True)
    objects, library = _model_objects(artifact, toolchain, work)
    program = build_harness(toolchain, objects, work)
    with np.load(artifact.path / REFERENCE_FILE, allow_pickle=False) as archive:
        rows, certified = archive["X"], archive["artifact_outputs"]
    np.savetxt(work / ROWS_FILE, rows, fmt="%.9g", delimiter=",")
    runs = _count_runs(profile, toolchain, program, work)
    outputs = np.loadtxt(io.StringIO(runs[1].stdout.decode()), delimiter=",", dtype=np.float32, ndmin=2)
    if outputs.shape[0] != len(rows):
        raise CheckFailed(f"the emulated harness printed {outputs.shape[0]} rows of outputs for {len(rows)} rows", "report the artifact")
    diff = float(np.max(np.abs(outputs.reshape(certified.shape) - certified), initial=0.0))
    emulator = f"{binary} -M {profile.emulation.machine or toolchain.board}" if toolchain.baremetal else binary
    return EmulatedRun(
        device=profile.id,
        emulator=emulator,
        triple=toolchain.triple,
        library=library,
        rebuilt=not library.startswith("the shipped"),
        rows=len(rows),
        instructions_per_inference=(runs[1].instructions - runs[0].instructions) / len(rows),
        instruction_counts=(runs[0].instructions, runs[1].instructions),
        max_abs_diff=diff,
        matches_reference=diff <= artifact.info.smoke_tolerance,
    )


def _model_objects(artifact: Artifact, toolchain: Toolchain, work: Path) -> tuple[list[Path], str]:
    runtime = artifact.info.runtime
    static = runtime.get("libraries", {}).get("static")
    if runtime.get("triple") == toolchain.triple and static:
        return [artifact.path / static], f"the shipped {static}"
    sources = sorted(artifact.path / name for name in artifact.info.files if name.startswith("src/") and name.endswith(".c"))
    options = artifact.info.options
    flags = (*(TL2CGEN_WARNINGS if options.get("layout") == "ifelse" else ()), *options.get("cflags", []))
    objects = compile_objects(toolchain, sources, work / "objects", flags)
    return objects, f"src/ rebuilt for {toolchain.triple} (the artifact ships {runtime.get('triple')})"


def _count_runs(profile: DeviceProfile, toolchain: Toolchain, program: Path, work: Path) -> list[CountedRun]:
    """The harness run once with 1 and once with 2 passes over the rows, instructions counted."""
    binary = profile.emulation.binary or toolchain.runner[0]
    if toolchain.baremetal:
        machine = profile.emulation.machine or toolchain.board
        return [count_instructions([binary, "-M", str(machine), "-nographic", "-semihosting-config",
                                    f"enable=on,target=native,arg=harness,arg=--count,arg={passes}"],
                                   ["-kernel", str(program)], work, None) for passes in (1, 2)]
    # qemu-user puts the program's absolute path on the guest stack, and its length shifts the
    # start-up count: run it from a directory whose path has the same length every time.
    with tempfile.TemporaryDirectory(prefix="edgekit-qemu-") as directory:
        shutil.copy2(program, Path(directory) / "harness")
        return [count_instructions([binary], ["./harness", "--count", str(passes)], Path(directory), work / ROWS_FILE)
                for passes in (1, 2)]
