"""The toolchain table: for each triple edgekit compiles C for, the compiler, its flags, the
libraries to build, and how to run a program built for it here (natively, qemu-user, qemu-system).

Everything that invokes a compiler lives here: building the model's libraries, measuring their
footprint, and building the harness that runs the model on rows for parity checks and benchmarks.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ...errors import BadInput, CheckFailed, MissingTool

C_RUNTIME_DIRECTORY = Path(__file__).resolve().parents[3] / "runtimes" / "c"
WARNINGS = ("-std=c99", "-Wall", "-Wextra", "-Werror")
BAREMETAL_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi"


@dataclass(frozen=True)
class Toolchain:
    triple: str
    compiler: str
    package: str  # the Debian package(s) that provide the compiler
    arch_flags: tuple[str, ...]
    libraries: tuple[str, ...]  # "shared" and/or "static"
    runner: tuple[str, ...]  # prefix that runs a harness built for it; () = natively
    runner_package: str | None = None
    board: str | None = None  # qemu-system-arm machine for bare-metal images
    defines: tuple[str, ...] = ()
    optimization: str = "-O3"  # measured on the table layout: -O3 walks ~10-20 % faster than -O2 on x86-64
    description: str = ""

    @property
    def baremetal(self) -> bool:
        return self.board is not None

    def binutil(self, name: str) -> str:
        """The binutils program of this toolchain (size, ar), named like its compiler."""
        return self.compiler[: -len("gcc")] + name

    @property
    def threads(self) -> tuple[str, ...]:
        """The flag for POSIX threads: Linux targets build edgekit_threads.c with it; bare metal has none."""
        return () if self.baremetal else ("-pthread",)

    @property
    def primary_library(self) -> str:
        return "shared" if "shared" in self.libraries else "static"


def _cortex_m(triple: str, cpu_flags: tuple[str, ...], board: str, description: str) -> Toolchain:
    return Toolchain(
        triple=triple,
        compiler="arm-none-eabi-gcc",
        package=BAREMETAL_PACKAGES,
        arch_flags=(*cpu_flags, "-mthumb", "-ffunction-sections", "-fdata-sections"),
        libraries=("static",),
        runner=("qemu-system-arm", "-M", board, "-nographic", "-semihosting", "-kernel"),
        runner_package="qemu-system-arm",
        board=board,
        defines=("-DEDGEKIT_BLOCK=1u",),  # in-order cores gain nothing from interleaved rows; keep the stack small
        optimization="-O2",  # flash is scarce: no -O3 unrolling
        description=description,
    )


TOOLCHAINS: dict[str, Toolchain] = {
    toolchain.triple: toolchain
    for toolchain in (
        # EDGEKIT_BLOCK: rows walked together by the table layout's scalar walk, as many as stay in registers
        # (measured per triple with benchmarks/tune_tree_block.py; results/tune_tree_block.md for x86-64).
        # EDGEKIT_AVX2_KERNELS: the dense layout also builds its block kernels for AVX2, picked per call from the CPU.
        # EDGEKIT_TREE_SIMD: the table layout's batches walk 16 (AVX-512) or 8 (AVX2) rows per instruction, picked likewise;
        # on aarch64 blocks of 16 rows, four per NEON vector, where the cost rule neon_gain says so (tree_simd/neon.py).
        Toolchain("x86_64-linux-gnu", "gcc", "gcc", ("-fPIC",), ("shared",), (),
                  defines=("-DEDGEKIT_BLOCK=12u", "-DEDGEKIT_AVX2_KERNELS", "-DEDGEKIT_TREE_SIMD"),
                  description="this machine"),
        Toolchain(
            "aarch64-linux-gnu", "aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu libc6-dev-arm64-cross", ("-fPIC",), ("shared", "static"),
            ("qemu-aarch64",), "qemu-user", defines=("-DEDGEKIT_BLOCK=16u", "-DEDGEKIT_TREE_SIMD"), description="64-bit ARM Linux (Raspberry Pi 4/5, Jetson, phones)",
        ),
        Toolchain(
            "arm-linux-gnueabihf", "arm-linux-gnueabihf-gcc", "gcc-arm-linux-gnueabihf libc6-dev-armhf-cross", ("-fPIC",), ("shared", "static"),
            ("qemu-arm",), "qemu-user", description="32-bit ARM Linux, hard float (Raspberry Pi OS 32-bit, i.MX6)",
        ),
        # ARMv6-M code is a subset of ARMv7-M, so the Cortex-M3 board runs (and checks) M0+ code.
        _cortex_m("cortex-m0plus", ("-mcpu=cortex-m0plus", "-mfloat-abi=soft"), "mps2-an385", "Cortex-M0+, no FPU"),
        _cortex_m("cortex-m3", ("-mcpu=cortex-m3", "-mfloat-abi=soft"), "mps2-an385", "Cortex-M3, no FPU"),
        _cortex_m(
            "cortex-m4f", ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"), "mps2-an386",
            "Cortex-M4 with single-precision FPU",
        ),
        _cortex_m(
            "cortex-m7", ("-mcpu=cortex-m7", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"), "mps2-an500",
            "Cortex-M7 with (at least) single-precision FPU",
        ),
    )
}
HOST_TRIPLE = "x86_64-linux-gnu"


def toolchain_for(triple: str) -> Toolchain:
    toolchain = TOOLCHAINS.get(triple)
    if toolchain is None:
        raise BadInput(f"unknown triple '{triple}'", f"edgekit builds C for: {', '.join(TOOLCHAINS)}")
    return toolchain


def require_compiler(toolchain: Toolchain) -> str:
    path = shutil.which(toolchain.compiler)
    if path is None:
        raise MissingTool(toolchain.compiler, toolchain.package)
    return path


def require_runner(toolchain: Toolchain) -> None:
    if toolchain.runner and shutil.which(toolchain.runner[0]) is None:
        raise MissingTool(toolchain.runner[0], toolchain.runner_package or toolchain.runner[0])


def compiler_version(toolchain: Toolchain) -> str:
    result = subprocess.run([require_compiler(toolchain), "-dumpfullversion"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


class BuildFailed(CheckFailed):
    """The compiler rejected generated code; the backend keeps the sources and names them."""


def _build_failed(command: list[str], task: str, output: str, returncode: int) -> BuildFailed:
    """The tool's first three lines of complaint, on one line."""
    lines = [line for line in output.splitlines() if line.strip()][:3]
    return BuildFailed(f"{Path(command[0]).name} failed to {task}: {' | '.join(lines) or f'exit {returncode}'}")


def _run_compiler(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise _build_failed(command, f"build {what}", result.stderr or result.stdout, result.returncode)


def compile_objects(
    toolchain: Toolchain, sources: list[Path], work: Path, extra_flags: tuple[str, ...] = (), jobs: int = 2
) -> list[Path]:
    """Compile each source to an object, with GCC's stack-usage and call-graph files beside it."""
    compiler = require_compiler(toolchain)
    work.mkdir(parents=True, exist_ok=True)
    work = work.resolve()
    commands = []
    for source in sources:
        obj = work / (source.stem + ".o")
        commands.append((
            [compiler, *WARNINGS, *extra_flags, toolchain.optimization, *toolchain.arch_flags, *toolchain.defines,
             *toolchain.threads, f"-I{C_RUNTIME_DIRECTORY}", f"-I{source.parent}",
             "-fstack-usage", "-fcallgraph-info=su", "-c", str(source.resolve()), "-o", str(obj)],
            obj,
        ))
    # Big if-else models come in several translation units; build them side by side.
    running: list[tuple[subprocess.Popen[str], list[str]]] = []
    for command, _ in commands:
        while len(running) >= max(1, jobs):
            _finish(*running.pop(0))
        running.append((subprocess.Popen(command, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), command))
    while running:
        _finish(*running.pop(0))
    return [obj for _, obj in commands]


def _finish(process: subprocess.Popen[str], command: list[str]) -> None:
    _, stderr = process.communicate()
    if process.returncode != 0:
        raise _build_failed(command, f"compile {Path(command[-3]).name}", stderr, process.returncode)


def link_libraries(toolchain: Toolchain, objects: list[Path], out_dir: Path) -> dict[str, Path]:
    """The shared and/or static libraries the triple ships, from the compiled objects."""
    out_dir.mkdir(parents=True, exist_ok=True)
    built = {}
    if "shared" in toolchain.libraries:
        path = out_dir / "libedgekit_model.so"
        _run_compiler([require_compiler(toolchain), "-shared", *toolchain.arch_flags, *toolchain.threads, *map(str, objects), "-o", str(path),
                       "-lm"],
                      "the shared library")
        built["shared"] = path
    if "static" in toolchain.libraries:
        path = out_dir / "libedgekit_model.a"
        archiver = toolchain.binutil("ar")
        _run_compiler([shutil.which(archiver) or archiver, "rcsD", str(path), *map(str, objects)], "the static library")
        built["static"] = path
    return built


def build_harness(toolchain: Toolchain, objects: list[Path], work: Path) -> Path:
    """The harness linked with the model: a native or static Linux program, or a bare-metal image."""
    compiler = require_compiler(toolchain)
    runtime = C_RUNTIME_DIRECTORY
    program = work / ("harness.elf" if toolchain.baremetal else "harness")
    command = [compiler, *WARNINGS, "-O2", *toolchain.arch_flags, *toolchain.threads, f"-I{runtime}"]
    if toolchain.baremetal:
        command += [
            '-DEDGEKIT_STDIN_FILE="rows.csv"', "-nostartfiles", "--specs=rdimon.specs",
            f"-T{runtime / 'baremetal' / 'mps2.ld'}", "-Wl,--gc-sections",
            str(runtime / "baremetal" / "startup.c"),
        ]
    elif toolchain.runner:
        command.append("-static")  # qemu-user then needs no target sysroot
    command += [str(runtime / "harness.c"), *map(str, objects), "-o", str(program), "-lm"]
    _run_compiler(command, "the harness")
    return program


@dataclass(frozen=True)
class Footprint:
    text: int  # code + constants
    data: int
    bss: int
    stack_bytes: int  # the deepest call chain
    stack_note: str

    @property
    def flash_bytes(self) -> int:
        return self.text + self.data  # initialised data is copied from flash at start-up

    @property
    def ram_bytes(self) -> int:
        return self.data + self.bss + self.stack_bytes

    def as_dict(self, toolchain: Toolchain) -> dict[str, object]:
        return {
            "flash_bytes": self.flash_bytes,
            "ram_bytes": self.ram_bytes,
            "sections": {"text": self.text, "data": self.data, "bss": self.bss, "stack": self.stack_bytes},
            "measured": f"{toolchain.binutil('size')} on the model objects; stack: the deepest call chain from "
            f"-fcallgraph-info=su ({self.stack_note})",
        }


def footprint(toolchain: Toolchain, objects: list[Path]) -> Footprint:
    size = shutil.which(toolchain.binutil("size"))
    if size is None:
        raise MissingTool(toolchain.binutil("size"), toolchain.package)
    result = subprocess.run([size, "--format=berkeley", *map(str, objects)], capture_output=True, text=True, check=True)
    text = data = bss = 0
    for line in result.stdout.splitlines()[1:]:
        fields = line.split()
        text, data, bss = text + int(fields[0]), data + int(fields[1]), bss + int(fields[2])
    stack, note = worst_stack([obj.with_suffix(".ci") for obj in objects])
    return Footprint(text, data, bss, stack, note)


_NODE = re.compile(r'node:\s*\{\s*title:\s*"([^"]+)"\s*label:\s*"([^"]*)"')
_EDGE = re.compile(r'edge:\s*\{\s*sourcename:\s*"([^"]+)"\s*targetname:\s*"([^"]+)"')
_BYTES = re.compile(r"(\d+) bytes \((static|dynamic|dynamic,bounded)\)")
ENTRY_POINTS = ("edgekit_predict", "edgekit_predict_batch")


def worst_stack(callgraph_files: list[Path]) -> tuple[int, str]:
    """The deepest stack any entry point can reach, from GCC's call-graph files.

    Calls into the C library (expf, memset) are outside the model's objects; their usage is not
    counted, and the note names them so a firmware engineer can add their (small) frames.
    """
    usage: dict[str, int] = {}
    calls: dict[str, set[str]] = {}
    unbounded = []
    for path in callgraph_files:
        text = path.read_text()
        for title, label in _NODE.findall(text):
            match = _BYTES.search(label.replace("\\n", "\n"))
            if match:
                usage[title] = int(match.group(1))
                if match.group(2) == "dynamic":
                    unbounded.append(title.split(":")[-1])
        for source, target in _EDGE.findall(text):
            calls.setdefault(source, set()).add(target)
    external: set[str] = set()

    def deepest(function: str, seen: frozenset[str]) -> int:
        if function not in usage:
            external.add(function.split(":")[-1])
            return 0
        below = [deepest(callee, seen | {function}) for callee in calls.get(function, ()) if callee not in seen]
        return usage[function] + max(below, default=0)

    entries = [title for title in usage if title.split(":")[-1] in ENTRY_POINTS]
    worst = max((deepest(entry, frozenset()) for entry in entries), default=0)
    note = "library calls not counted: " + ", ".join(sorted(external)) if external else "no library calls"
    if unbounded:
        note += "; dynamic stack in " + ", ".join(sorted(unbounded))
    return worst, note
