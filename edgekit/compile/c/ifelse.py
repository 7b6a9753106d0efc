"""The if-else layout: TL2cgen turns the Treelite model into nested if-else C, and a small wrapper
(edgekit_api.c) implements edgekit's C API on top of TL2cgen's ``predict(union Entry *, ...)``.

TL2cgen options used: ``quantize`` (thresholds as per-feature bin indices; exact), ``annotate_in``
(branch likelihoods from the bundle's training sample, so the compiler lays out the likely path
first) and ``parallel_comp`` (trees split over several translation units, compiled side by side).
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
from edgekit_runtime.predictors.native_stderr import filtered_native_stderr

from ...errors import BadInput, CheckFailed
from ..trees.tables import LEAF, TreeTables
from .literals import api_constants, array, batch_by_rows, float_literals

TREES_PER_UNIT = 50
WRAPPER = "edgekit_api.c"
# TL2cgen's generated code declares variables it may not use; those warnings are not ours to fix.
TL2CGEN_WARNINGS = ("-Wno-unused-variable", "-Wno-unused-parameter", "-Wno-unused-function", "-Wno-sign-compare")

# The if-else source grows with the model: about 150 bytes per split node and 36 per leaf value (a
# 20-class forest writes 20 values per leaf); these match TL2cgen's output within 1 % on forests of
# 2, 5 and 20 classes. gcc's time grows faster than the source: on the 2-core x86-64 development
# machine 0.4 MB took 4 s, 1.8 MB 38 s, 8 MB (20 classes, 20 trees of depth 10) over 5 minutes
# (benchmarks/results/bench_ifelse_size.md). Past IFELSE_MAX_SOURCE_MB the layout is refused before
# anything is generated; --layout table compiles any of these in seconds. `--option ifelse-max-mb=N`
# moves the limit for one compile.
BYTES_PER_SPLIT_NODE = 150
BYTES_PER_LEAF_VALUE = 36
IFELSE_MAX_SOURCE_MB = 6


def estimate_ifelse_source_bytes(tables: TreeTables) -> int:
    """The size of the C TL2cgen would write for these tables, from their node counts alone."""
    split_nodes = int(np.count_nonzero(tables.feature != LEAF))
    leaf_values = (tables.num_nodes - split_nodes) * tables.leaf_width
    return BYTES_PER_SPLIT_NODE * split_nodes + BYTES_PER_LEAF_VALUE * leaf_values


def ifelse_size_refusal(tables: TreeTables, limit_mb: int = IFELSE_MAX_SOURCE_MB) -> BadInput | None:
    """Why the if-else layout is not tried for these tables (its estimated source is past the
    limit), or None."""
    estimate = estimate_ifelse_source_bytes(tables)
    if estimate <= limit_mb * 1_000_000:
        return None
    classes = f", {tables.leaf_width} values per leaf" if tables.leaf_width > 1 else ""
    return BadInput(
        f"the if-else C of this model would be about {estimate / 1e6:.0f} MB of source ({tables.num_trees} trees, "
        f"{tables.num_nodes} nodes{classes}), past the {limit_mb} MB limit where gcc runs for many minutes",
        f"use --layout table (compiles in seconds at any size), or --option ifelse-max-mb={-(-estimate // 1_000_000)} to wait",
    )


def ifelse_limit_mb(options: dict[str, str]) -> int:
    return int(options.get("ifelse-max-mb", IFELSE_MAX_SOURCE_MB))


def ifelse_sources(
    model: Any,
    tables: TreeTables,
    fill: np.ndarray | None,
    model_id: str,
    source_dir: Path,
    *,
    quantize: bool,
    annotation_rows: np.ndarray | None,
) -> list[Path]:
    import tl2cgen

    params: dict[str, Any] = {"quantize": int(quantize)}
    units = max(1, tables.num_trees // TREES_PER_UNIT)
    if units > 1:
        params["parallel_comp"] = units
    # TL2cgen's progress log comes through a Python print() (stdout, where --json goes) and
    # Treelite's notices through fd 2: neither is the user's business.
    with filtered_native_stderr(lambda line: True), contextlib.redirect_stdout(io.StringIO()):
        if annotation_rows is not None and len(annotation_rows):
            annotation = source_dir.parent / "annotation.json"
            rows = np.asarray(annotation_rows, dtype=np.float32)
            if fill is not None:
                rows = np.where(np.isnan(rows), fill.astype(np.float32), rows)
            tl2cgen.annotate_branch(model, tl2cgen.DMatrix(rows), annotation, nthread=1)
            params["annotate_in"] = str(annotation)
        try:
            tl2cgen.generate_c_code(model, source_dir, params)
        except tl2cgen.TL2cgenError as exc:
            raise CheckFailed(f"TL2cgen could not generate C: {str(exc).splitlines()[0]}", "use --layout table") from exc
    (source_dir / WRAPPER).write_text(_wrapper(source_dir / "header.h", tables, fill, model_id))
    return sorted(source_dir.glob("*.c"))


def _wrapper(header: Path, tables: TreeTables, fill: np.ndarray | None, model_id: str) -> str:
    match = re.search(r"void predict\(union Entry\* data, int pred_margin, (float|double)\* result\);", header.read_text())
    if match is None:
        raise CheckFailed("TL2cgen's header has no predict() this wrapper knows", "use --layout table, or pin tl2cgen 1.0")
    result_type = match.group(1)
    width = tables.num_outputs
    binary = tables.binary_pair
    lines = [
        "/* Generated by edgekit: edgekit's C API over TL2cgen's predict(). Do not edit. */",
        "#include <stdint.h>",
        "#include <string.h>",
        '#include "edgekit_model.h"',
        '#include "header.h"',
        "",
        f"#define NUM_FEATURES {tables.num_features}u",
        f"#define RESULT_WIDTH {width}u",
        *api_constants(tables.output_width, model_id),
    ]
    if fill is not None:  # the model's imputer: a missing input takes the imputed value
        lines.append(array("float", "missing_fill", float_literals(fill), "NUM_FEATURES"))
        missing = "data[i].fvalue = missing_fill[i];"
    else:
        missing = "data[i].missing = -1;"
    lines += [
        "",
        "void edgekit_predict(const float *row, float *out) {",
        "    union Entry data[NUM_FEATURES];",
        f"    {result_type} result[RESULT_WIDTH];",
        "    for (uint32_t i = 0; i < NUM_FEATURES; ++i) {",
        f"        if (row[i] != row[i]) {{ {missing} }} else {{ data[i].fvalue = row[i]; }}",
        "    }",
        "    memset(result, 0, sizeof result);",
        "    predict(data, 0, result);",
    ]
    if binary:
        lines += ["    out[0] = (float)(1.0 - result[0]);", "    out[1] = (float)result[0];"]
    else:
        lines.append("    for (uint32_t k = 0; k < RESULT_WIDTH; ++k) out[k] = (float)result[k];")
    lines += [
        "}",
        "",
        *batch_by_rows(),
    ]
    return "\n".join(lines)
