"""Threaded batches (edgekit_threads.c, one file for every layout): real artifacts built by gcc,
loaded with ctypes through the device runtime; every thread count gives the one-thread bits."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys

import numpy as np
import pytest
from edgekit_runtime import InvalidInput, load
from tests_support import edgekit_home, require_tool

from edgekit import train_bundle
from edgekit.compile import compile_bundle
from edgekit.compile.c.toolchains import C_RUNTIME_DIRECTORY

SIZES = (1, 7, 301, 10_000)
THREADS = (1, 2, 3, 8)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """A table, an if-else and a dense C artifact (XGBoost and an MLP on wine), with 10 000 rows."""
    require_tool("gcc", "gcc")
    root = tmp_path_factory.mktemp("threads")
    with edgekit_home(root):
        trees = train_bundle("bundled:wine", root / "xgb", family="xgboost", params={"n_estimators": "20", "max_depth": "4"})
        mlp = train_bundle("bundled:wine", root / "mlp", family="mlp")
        built = {
            "table": compile_bundle(trees.path, "c", root / "table").path,
            "ifelse": compile_bundle(trees.path, "c", root / "ifelse", options={"layout": "ifelse"}).path,
            "dense": compile_bundle(mlp.path, "c", root / "dense").path,
        }
    sample = np.load(built["table"] / "reference.npz")["X"].astype(np.float32)
    rows = np.random.default_rng(0).permutation(np.resize(sample, (SIZES[-1], sample.shape[1])))
    rows[::97, 3] = np.nan  # missing values take the layouts' other walk
    built["trees bundle"] = trees.path
    return built, np.ascontiguousarray(rows)


@pytest.mark.parametrize("layout", ["table", "ifelse", "dense"])
def test_every_thread_count_gives_the_one_thread_bits(artifacts, layout):
    built, rows = artifacts
    one = load(built[layout]).runtime_predict(rows)
    for threads in THREADS:
        model = load(built[layout], threads=threads)
        for size in SIZES:
            got = model.runtime_predict(rows[:size])
            assert got.tobytes() == one[:size].tobytes(), (layout, threads, size)


def _threaded_entry(directory):
    descriptor = json.loads((directory / "artifact.json").read_text())
    library = ctypes.CDLL(str(directory / descriptor["runtime"]["library"]))
    entry = library.edgekit_predict_batch_threads
    entry.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_uint)
    entry.restype = ctypes.c_uint
    return entry, ctypes.c_uint.in_dll(library, "edgekit_num_outputs").value


@pytest.mark.parametrize("size, threads, used", [
    (7, 8, 1),  # more threads than rows: the caller alone
    (301, 2, 1),  # too few rows to pay for a thread
    (0, 4, 1),
    (10_000, 3, 3),
    (10_000, 1000, 35),  # at least 256 rows a thread: 39 chunks, rounded to whole 48-row blocks (x86-64: 12 and 16)
])
def test_small_batches_stay_on_the_caller_and_large_ones_spread(artifacts, size, threads, used):
    built, rows = artifacts
    entry, outputs = _threaded_entry(built["table"])
    out = np.full((max(size, 1), outputs), np.nan, dtype=np.float32)
    assert entry(rows.ctypes.data, size, out.ctypes.data, threads) == used
    if size:
        assert out.tobytes() == load(built["table"]).runtime_predict(rows[:size]).tobytes()


def test_when_no_thread_can_be_created_the_caller_predicts_every_row(artifacts):
    """pthread_create fails when the address space has no room for a thread's stack (RLIMIT_AS set
    just above what the process maps): the answer is complete and exact, on one thread."""
    built, rows = artifacts
    script = (
        "import ctypes, resource, sys, numpy as np; sys.path[:0] = sys.argv[3:]\n"
        "from edgekit_runtime import load\n"
        "rows = np.load(sys.argv[2]); model = load(sys.argv[1], threads=4); one = load(sys.argv[1]).runtime_predict(rows)\n"
        "lib = ctypes.CDLL(str(next(__import__('pathlib').Path(sys.argv[1]).glob('lib/*.so'))))\n"
        "entry = lib.edgekit_predict_batch_threads; entry.restype = ctypes.c_uint\n"
        "entry.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_uint)\n"
        "out = np.full_like(one, np.nan); mapped = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (mapped + (4 << 20), resource.RLIM_INFINITY))\n"
        "used = entry(rows.ctypes.data, len(rows), out.ctypes.data, 4)\n"
        "print(used, out.tobytes() == one.tobytes())\n"
    )
    saved = built["table"].parent / "rows.npy"
    np.save(saved, rows)
    result = subprocess.run([sys.executable, "-c", script, str(built["table"]), str(saved), *sys.path], capture_output=True, text=True,
                            check=False)
    assert result.stdout.split() == ["1", "True"], result.stdout + result.stderr


@pytest.mark.parametrize("threads", [0, -2, 1.5, "2", True, None])
def test_a_bad_thread_count_is_refused_in_one_line(artifacts, threads):
    built, _ = artifacts
    with pytest.raises(InvalidInput, match=r"^threads must be a whole number of at least 1, got ") as caught:
        load(built["table"], threads=threads)
    assert "\n" not in str(caught.value)


def test_the_runtime_command_refuses_zero_threads(artifacts):
    built, _ = artifacts
    result = subprocess.run([sys.executable, "-m", "edgekit_runtime.cli", "bench", str(built["table"]), "--threads", "0", "--runs", "5"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "threads must be a whole number of at least 1, got 0" in result.stderr


def test_the_csv_harness_times_threaded_batches(artifacts, tmp_path):
    built, rows = artifacts
    sources = sorted((built["table"] / "src").glob("*.c"))
    program = tmp_path / "harness"
    subprocess.run(["gcc", "-O2", "-pthread", f"-I{C_RUNTIME_DIRECTORY}", str(C_RUNTIME_DIRECTORY / "harness.c"), *map(str, sources),
                    "-o", str(program), "-lm"], check=True)
    data = "\n".join(",".join("nan" if np.isnan(value) else f"{value:.9g}" for value in row) for row in rows[:2000]) + "\n"
    run = subprocess.run([str(program), "--bench", "2", "--threads", "2"], input=data, capture_output=True, text=True, check=True)
    assert "rows=2000 passes=2 threads=2 " in run.stdout


def test_microcontroller_builds_get_no_thread_code(artifacts, tmp_path):
    """A Cortex-M artifact ships no edgekit_threads.c; and the source, as bench's src/ rebuild of a
    Linux artifact would compile it for a Cortex-M, is an empty object."""
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    built, _ = artifacts
    with edgekit_home(tmp_path):
        m4 = compile_bundle(built["trees bundle"], "c", tmp_path / "m4", options={"triple": "cortex-m4f"})
    assert "src/edgekit_threads.c" not in m4.info.files and "-pthread" not in m4.info.requirements["compiler_flags"]
    obj = tmp_path / "threads.o"
    subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-mcpu=cortex-m4", "-mthumb",
                    f"-I{C_RUNTIME_DIRECTORY}", "-c", str(built["table"] / "src" / "edgekit_threads.c"), "-o", str(obj)], check=True)
    sizes = subprocess.run(["arm-none-eabi-size", str(obj)], capture_output=True, text=True, check=True).stdout.splitlines()[1].split()
    assert sizes[:3] == ["0", "0", "0"]
