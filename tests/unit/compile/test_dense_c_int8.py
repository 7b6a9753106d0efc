"""int8 dense C: integer dot products make every kernel compute the same integers, so the x86-64
kernels (portable, AVX2, AVX-VNNI, AVX512-VNNI), the aarch64 ones (smull+sadalp, sdot under
qemu-aarch64) and Cortex-M4's SMLAD (under qemu-system-arm) agree bit for bit, and the batch entry
point agrees bit for bit with the single-row one."""

import dataclasses
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from edgekit_runtime.predictors.c import CPredictor
from test_dense_c_batch import MODELS, _dense, _rows, _single_rows
from tests_support import require_tool

from edgekit.compile.c.dense import dense_source
from edgekit.compile.c.harness import run_harness
from edgekit.compile.c.literals import float_literals
from edgekit.compile.c.toolchains import (
    C_RUNTIME_DIRECTORY,
    HOST_TRIPLE,
    build_harness,
    compile_objects,
    link_libraries,
    toolchain_for,
)

X86_KERNELS = {0: None, 1: "avx2", 2: "avx_vnni", 3: "avx512_vnni"}  # EDGEKIT_X86_DOTS -> the /proc/cpuinfo flag


def _cpu_flags():
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    match = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def _x86_library(model, work, level):
    require_tool("gcc", "gcc")
    work.mkdir(parents=True, exist_ok=True)
    source = work / "model.c"
    source.write_text(dense_source(model, "0" * 64, "a test", True))
    toolchain = toolchain_for(HOST_TRIPLE)
    toolchain = dataclasses.replace(toolchain, defines=(*toolchain.defines, f"-DEDGEKIT_X86_DOTS={level}"))
    return CPredictor(link_libraries(toolchain, compile_objects(toolchain, [source], work / "obj"), work / "lib")["shared"])


@pytest.mark.parametrize("name", list(MODELS))
def test_every_x86_kernel_gives_the_same_bits_and_the_batch_gives_the_single_row_bits(name, tmp_path):
    model = _dense(name)
    rows = _rows(301)
    flags = _cpu_flags()
    portable = _x86_library(model, tmp_path / "0", 0)
    expected = portable.predict(rows)
    single = _single_rows(portable, rows)
    assert np.array_equal(expected.reshape(single.shape), single, equal_nan=True)
    for level, flag in X86_KERNELS.items():
        if flag is None or flag not in flags:
            continue  # this CPU cannot run that kernel; the dispatcher falls back
        got = _x86_library(model, tmp_path / str(level), level).predict(rows)
        assert np.array_equal(got, expected, equal_nan=True), (level, np.nanmax(np.abs(got - expected)))
    assert np.isnan(single[17]).all() and np.isfinite(single[:5]).all()  # refused past REFUSE_BEYOND; ordinary rows answered


def test_this_machine_runs_the_vnni_kernels():
    """Without these flags the test above checks fewer kernels: say so rather than pass quietly."""
    missing = {"avx2", "avx_vnni", "avx512_vnni"} - _cpu_flags()
    if missing:
        pytest.skip(f"this CPU lacks {', '.join(sorted(missing))}")


def test_int8_codes_stay_within_a_symmetric_127_and_the_int32_sum_cannot_overflow():
    from edgekit.compile.c.dense_int8 import MAX_INPUTS, quantize_layers

    for name in MODELS:
        for layer in quantize_layers(_dense(name)):
            assert np.abs(layer.codes).max() <= 127  # -128 would break vpmaddubsw's sign trick and SMLAD pairs
            assert layer.codes.shape[1] % 4 == 0 and not layer.codes[:, layer.inputs:].any()
    assert 127 * 127 * MAX_INPUTS < 2**31


def _uses(mnemonic, disassembly):
    return re.search(rf"\t{mnemonic}\s", disassembly) is not None


PRINT_DRIVER = r"""
#include <math.h>
#include <stdio.h>
#include "edgekit_model.h"
static const float rows[] = {%s};
#define N %du
int main(void) {
    static float batch[N * 16], single[16];
    edgekit_predict_batch(rows, N, batch);
    for (unsigned r = 0; r < N; ++r) {
        edgekit_predict(rows + r * edgekit_num_features, single);
        for (unsigned k = 0; k < edgekit_num_outputs; ++k) printf("%%a %%a\n", batch[r * edgekit_num_outputs + k], single[k]);
    }
    return 0;
}
"""


def _aarch64_outputs(model, rows, work, march):
    toolchain = toolchain_for("aarch64-linux-gnu")
    compiler = require_tool(toolchain.compiler, toolchain.package)
    require_tool("qemu-aarch64", "qemu-user")
    work.mkdir(parents=True)
    source = work / "model.c"
    source.write_text(dense_source(model, "0" * 64, "a test", True))
    flags = (f"-march={march}",) if march else ()
    objects = compile_objects(toolchain, [source], work / "obj", flags)
    disassembly = subprocess.run([toolchain.binutil("objdump"), "-d", str(objects[0])], capture_output=True, text=True,
                                 check=True).stdout
    driver = work / "driver.c"
    driver.write_text(PRINT_DRIVER % (float_literals(rows), len(rows)))
    program = work / "driver"
    subprocess.run([compiler, "-std=c99", "-O2", "-static", *flags, f"-I{C_RUNTIME_DIRECTORY}",
                    str(driver), *map(str, objects), "-o", str(program), "-lm"], check=True)
    printed = subprocess.run(["qemu-aarch64", "-cpu", "max", str(program)], capture_output=True, text=True, check=True).stdout
    pairs = np.array([[float.fromhex(value) for value in line.split()] for line in printed.splitlines()])
    return pairs[:, 0], pairs[:, 1], disassembly


@pytest.mark.parametrize("name", ["mlp-relu-softmax", "mlp-tanh-binary"])
def test_aarch64_sdot_and_smull_kernels_give_the_same_bits_under_qemu(name, tmp_path):
    model = _dense(name)
    rows = _rows(45)
    batch, single, plain = _aarch64_outputs(model, rows, tmp_path / "neon", None)
    dot_batch, dot_single, dotprod = _aarch64_outputs(model, rows, tmp_path / "dotprod", "armv8.2-a+dotprod")
    assert _uses("sdot", dotprod) and not _uses("sdot", plain) and _uses("sadalp", plain)  # each build has the kernel it names
    assert np.array_equal(batch, single, equal_nan=True) and np.array_equal(dot_batch, dot_single, equal_nan=True)
    assert np.array_equal(dot_batch, batch, equal_nan=True)


def test_cortex_m4_smlad_build_matches_the_host_under_qemu(tmp_path):
    """The row loop with SMLAD (EDGEKIT_BLOCK=1, -mcpu=cortex-m4) against the host's integers: the
    same sums, so outputs differ at most by the last bits of newlib's expf against glibc's."""
    toolchain = toolchain_for("cortex-m4f")
    require_tool(toolchain.compiler, toolchain.package)
    require_tool("qemu-system-arm", "qemu-system-arm")
    model = _dense("mlp-relu-softmax")
    rows = _rows(40)
    source = tmp_path / "model.c"
    source.write_text(dense_source(model, "0" * 64, "a test", True))
    objects = compile_objects(toolchain, [source], tmp_path / "obj")
    disassembly = subprocess.run([toolchain.binutil("objdump"), "-d", str(objects[0])], capture_output=True, text=True,
                                 check=True).stdout
    assert _uses("smlad", disassembly) and _uses("sxtb16", disassembly)
    device = run_harness(toolchain, build_harness(toolchain, objects, tmp_path), rows, 3)
    host = _x86_library(model, tmp_path / "host", 3).predict(rows).reshape(device.shape)
    np.testing.assert_allclose(device, host, rtol=0, atol=1e-6, equal_nan=True)
