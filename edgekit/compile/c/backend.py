"""The C backend: target ``c``. Generates C for the bundle's model, builds the libraries its triple
ships, measures their footprint, and runs the model on the target ISA for the parity certificate.

    trees --layout table  -> c_table (float32, or tree-aware quantization: tree_quantize)
    trees --layout ifelse -> TL2cgen through c_ifelse
    trees --layout compact -> c_compact (split nodes only, leaves apart: the smallest flash)
    trees --layout inline -> c_inline (nested if-else of its own: the fewest instructions, small forests)
    trees --layout quickscorer -> c_quickscorer (the table layout, its AVX-512 batches scored by bitvectors)
    trees, no --layout -> quickscorer where its cost rule picks it (x86-64, trees of at most 32 leaves), else table
    table/quickscorer on aarch64 -> batches by the NEON kernel where its cost rule (neon_gain) predicts >= 1.3x
    linear / logistic / mlp -> c_dense (float32, or int8 weights and activations: dense_int8)

Artifact layout: ``src/`` (the generated sources and edgekit_model.h: enough to rebuild with any
toolchain) and ``lib/`` (libedgekit_model.so and/or .a for the triple).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import BadInput
from ..dense import dense_from_pipeline
from ..registry import Backend, CompiledModel, CompileRequest, Option
from ..trees.quantize import bin_thresholds, quantize_leaves
from ..trees.split_nodes import leaf_encoding, split_nodes
from ..trees.tables import bundle_trees
from .compact import compact_source
from .dense import dense_source
from .harness import instructions_per_row, run_harness
from .ifelse import (
    IFELSE_MAX_SOURCE_MB,
    TL2CGEN_WARNINGS,
    ifelse_limit_mb,
    ifelse_size_refusal,
    ifelse_sources,
)
from .inline import inline_refusal, inline_source
from .quickscorer import quickscorer_choice, quickscorer_refusal, quickscorer_source
from .table import table_source
from .toolchains import (
    C_RUNTIME_DIRECTORY,
    HOST_TRIPLE,
    TOOLCHAINS,
    BuildFailed,
    Toolchain,
    build_harness,
    compile_objects,
    compiler_version,
    footprint,
    link_libraries,
    require_compiler,
    require_runner,
    toolchain_for,
)
from .tree_simd import NEON_TRIPLES, neon_gain

LAYOUTS = ("table", "ifelse", "compact", "inline", "quickscorer")
SPLIT_NODE_LAYOUTS = {"compact": compact_source, "inline": inline_source}
QUANTIZE = ("none", "thresholds", "int16", "int8")
HEADER = "edgekit_model.h"
THREADS_SOURCE = "edgekit_threads.c"  # edgekit_predict_batch_threads, shared by every layout's Linux builds
MONITOR_SOURCE = "edgekit_monitor.c"  # edgekit_monitor_*: the runtime's input monitor in C, likewise
# What each --quantize is certified as: thresholds alone are exact, integer leaves are not.
PRECISION = {"none": "fp32", "thresholds": "fp32", "int16": "int16", "int8": "int8"}
EMULATED_CODE_BYTES = 4 * 1024 * 1024  # the MPS2 boards' code memory, where the parity image runs
# Test rows a bare-metal build's instructions per inference are counted on (exact counts: a few suffice;
# auto-fit's --prefer speed ranks microcontroller builds by them).
COUNTED_ROWS = 16


def _triple(request: CompileRequest) -> Toolchain:
    if "triple" in request.options:
        return toolchain_for(request.options["triple"])
    if request.device is not None:
        return toolchain_for(request.device.c_triple())
    return toolchain_for(HOST_TRIPLE)


def _generate(request: CompileRequest, source_dir: Path, layout: str | None, quantize: str,
              triple: str) -> tuple[list[Path], tuple[str, ...], dict[str, Any]]:
    """Write the model's C into source_dir: (sources, extra compiler flags, what was made).
    ``layout`` None: no --layout given (trees: the cost rule picks quickscorer or table)."""
    bundle, info = request.bundle, request.bundle.info
    origin = f"bundle {info.name} v{info.version} ({info.family}, {info.content_hash[:12]})"
    made: dict[str, Any] = {"layout": layout or "table", "quantize": quantize}
    if info.family_kind != "trees":
        if "layout" in request.options:
            raise BadInput(f"--layout is for tree models; {info.family} compiles to dense C", "drop --layout")
        if "ifelse-max-mb" in request.options:
            raise BadInput(f"ifelse-max-mb is for --layout ifelse; {info.family} compiles to dense C", "drop the option")
        if quantize in ("thresholds", "int16"):
            raise BadInput(f"--quantize {quantize} is for tree models", "use --quantize none or int8 for dense models")
        model = dense_from_pipeline(bundle.model, len(info.feature_names))
        (source_dir / "model.c").write_text(dense_source(model, info.content_hash, origin, int8=quantize == "int8"))
        made["layout"] = "dense"
        made["weights"] = "int8, one scale per output unit; int8 activations, one scale per row" if quantize == "int8" else "float32"
        return [source_dir / "model.c"], (), made

    trees = bundle_trees(bundle)
    tl_model, fill, tables = trees.treelite, trees.fill, trees.tables
    made.update(trees=tables.num_trees, nodes=tables.num_nodes)
    if layout is None:
        reason = quickscorer_choice(tables, triple) if quantize == "none" else None
        layout = made["layout"] = "quickscorer" if reason else "table"
        if reason:
            made["layout_rule"] = reason
    if layout in ("table", "quickscorer") and quantize == "none" and triple in NEON_TRIPLES:
        made["neon_rule"] = neon_gain(tables).reason  # the generated source carries the same choice
    if layout != "ifelse" and "ifelse-max-mb" in request.options:
        raise BadInput("ifelse-max-mb is for --layout ifelse", "drop the option, or add --layout ifelse")
    if layout == "ifelse":
        if quantize in ("int16", "int8"):
            raise BadInput(f"the ifelse layout cannot take --quantize {quantize}", "use --layout table for integer leaves")
        refusal = ifelse_size_refusal(tables, ifelse_limit_mb(request.options))
        if refusal is not None:
            raise refusal
        sources = ifelse_sources(
            tl_model, tables, fill, info.content_hash, source_dir,
            quantize=quantize == "thresholds", annotation_rows=bundle.reference()["X"],
        )
        made["branch_annotation"] = "from the bundle's reference sample of training rows"
        return sources, TL2CGEN_WARNINGS, made
    if layout in SPLIT_NODE_LAYOUTS:
        if quantize != "none":
            raise BadInput(f"the {layout} layout picks its own exact leaf encoding and keeps float32 thresholds",
                           "drop --quantize, or use --layout table for integer leaves")
        nodes = split_nodes(tables)
        leaves = leaf_encoding(tables, nodes)
        made["leaves"] = {"encoding": leaves.kind, "rows": len(leaves.values), "shared": leaves.slot_row is not None,
                          "class_1_only": leaves.complement}
        (source_dir / "model.c").write_text(SPLIT_NODE_LAYOUTS[layout](tables, nodes, leaves, info.content_hash, origin))
        return [source_dir / "model.c"], (), made
    if layout == "quickscorer":
        if quantize != "none":
            raise BadInput(f"the quickscorer layout keeps float32 thresholds and leaves; it cannot take --quantize {quantize}",
                           "drop --quantize, or use --layout table")
        refusal = quickscorer_refusal(tables)
        if refusal is not None:
            raise refusal
        (source_dir / "model.c").write_text(quickscorer_source(tables, info.content_hash, origin))
        return [source_dir / "model.c"], (), made
    binned = bin_thresholds(tables, "uint8" if quantize == "int8" else "uint16") if quantize != "none" else None
    leaves = quantize_leaves(tables, quantize) if quantize in ("int16", "int8") else None
    if binned is not None:
        made["thresholds"] = {
            "bins": binned.dtype,
            "edges": len(binned.edges),
            "exact": not binned.merged_features,
            "merged_features": [info.feature_names[f] for f in binned.merged_features],
        }
    if leaves is not None:
        made["leaves"] = {"dtype": leaves.dtype, "scale": leaves.scale}
    (source_dir / "model.c").write_text(table_source(tables, info.content_hash, origin, binned, leaves))
    return [source_dir / "model.c"], (), made


def compile_c(request: CompileRequest) -> CompiledModel:
    info = request.bundle.info
    toolchain = _triple(request)
    require_compiler(toolchain)
    require_runner(toolchain)
    layout = request.options.get("layout")
    quantize = request.options.get("quantize", "none")
    source_dir = request.staging / "src"
    source_dir.mkdir()
    shutil.copyfile(C_RUNTIME_DIRECTORY / HEADER, source_dir / HEADER)
    sources, flags, made = _generate(request, source_dir, layout, quantize, toolchain.triple)
    if not toolchain.baremetal:
        for shared in (THREADS_SOURCE, MONITOR_SOURCE):
            shutil.copyfile(C_RUNTIME_DIRECTORY / shared, source_dir / shared)
            sources.append(source_dir / shared)
    user_flags = tuple(request.options.get("cflags", "").split())
    if user_flags:
        made["cflags"] = list(user_flags)
    build = request.staging / "build"  # scratch: compile_bundle removes what is not shipped
    try:
        objects = compile_objects(toolchain, sources, build, (*flags, *user_flags))
        measured = footprint(toolchain, objects)
        _check_fits(toolchain, measured.flash_bytes)
        libraries = link_libraries(toolchain, objects, request.staging / "lib")
        harness = build_harness(toolchain, objects, build) if toolchain.triple != HOST_TRIPLE else None
    except BuildFailed as exc:
        kept = Path(tempfile.mkdtemp(prefix=f"edgekit-{info.name}-c-sources-"))
        shutil.copytree(source_dir, kept, dirs_exist_ok=True)
        raise BuildFailed(exc.message, f"the generated sources are kept in {kept} for inspection") from exc

    primary = libraries[toolchain.primary_library]
    shipped = {kind: str(path.relative_to(request.staging)) for kind, path in libraries.items()}
    if harness is None:
        from edgekit_runtime.predictors.c import CPredictor

        predictor = CPredictor(primary, info.content_hash).predict
    else:
        def predictor(rows: np.ndarray) -> np.ndarray:
            values = run_harness(toolchain, harness, rows, info.output_width)
            return values if info.task == "classification" else values.reshape(-1)

    resources = measured.as_dict(toolchain)
    if harness is not None and toolchain.baremetal:
        rows = request.bundle.reference()["test_X"][:COUNTED_ROWS]
        if len(rows):
            resources["instructions_per_row"] = instructions_per_row(toolchain, harness, rows)
            resources["instructions_measured"] = (f"{toolchain.runner[0]} -M {toolchain.board}, -singlestep instruction "
                                                  f"count of edgekit_predict, mean over {len(rows)} test rows")
    files = sorted([*(f"src/{path.name}" for path in source_dir.iterdir()), *shipped.values()])
    return CompiledModel(
        model_file=shipped[toolchain.primary_library],
        files=files,
        runtime={
            "name": "c",
            "api_version": 1,
            "triple": toolchain.triple,
            "library": shipped[toolchain.primary_library],
            "libraries": shipped,
            "header": f"src/{HEADER}",
        },
        inputs=[{"name": "row", "dtype": "float32", "shape": [None, len(info.feature_names)]}],
        outputs=[{"name": "probabilities" if info.task == "classification" else "value", "dtype": "float32",
                  "shape": [None, info.output_width]}],
        requirements={
            "runtime": "c",
            "triple": toolchain.triple,
            "libc": "newlib (expf, tanhf only)" if toolchain.baremetal else "glibc (libm, pthreads: link with -pthread)",
            "compiler_flags": [*toolchain.arch_flags, *toolchain.defines, *toolchain.threads],
        },
        options={**made, "triple": toolchain.triple,
                 "parity_run": f"{toolchain.runner[0]} {toolchain.board or ''}".strip() if toolchain.runner else "native"},
        toolchain={toolchain.compiler: compiler_version(toolchain), **_python_tools(made["layout"])},
        predictor=predictor,
        precision=PRECISION[quantize],
        resources={toolchain.triple: resources},
    )


def _python_tools(layout: str) -> dict[str, str]:
    from importlib import metadata

    names = {"dense": [], "table": ["treelite"], "compact": ["treelite"], "inline": ["treelite"], "quickscorer": ["treelite"],
             "ifelse": ["treelite", "tl2cgen"]}[layout]
    return {name: metadata.version(name) for name in names}


def _check_fits(toolchain: Toolchain, flash_bytes: int) -> None:
    if not toolchain.baremetal:
        return
    boards = _known_microcontrollers()
    largest_name, largest = max(boards.items(), key=lambda item: item[1], default=("the emulated MPS2 board", EMULATED_CODE_BYTES))
    if flash_bytes > largest:
        raise BadInput(
            f"the model needs {flash_bytes} bytes of flash for {toolchain.triple}; the largest known microcontroller "
            f"({largest_name}) has {largest}",
            "use --quantize int16 or int8, fewer or shallower trees, or a Linux target",
        )
    if flash_bytes > EMULATED_CODE_BYTES:
        raise BadInput(
            f"the model needs {flash_bytes} bytes of flash; the emulated board that certifies {toolchain.triple} code "
            f"has {EMULATED_CODE_BYTES}", "use --quantize int16 or int8, or fewer or shallower trees",
        )


def _known_microcontrollers() -> dict[str, int]:
    """Flash bytes of every bare-metal device profile (device_configs/)."""
    from ...devices.profiles import load_profile, profile_ids

    boards = {}
    for device_id in profile_ids():
        try:
            profile = load_profile(device_id)
        except BadInput:
            continue  # a broken profile is the checker's to report
        if profile.runtimes.c is not None and profile.runtimes.c.triple == "arm-none-eabi" and profile.memory.flash_bytes:
            boards[device_id] = profile.memory.flash_bytes
    return boards


C_BACKEND = Backend(
    name="c",
    targets={"c": "fp32"},
    kinds={"fp32": frozenset({"trees", "linear", "mlp"})},
    options={
        "triple": Option("toolchain triple (default: the device's, else this machine's)", tuple(TOOLCHAINS), HOST_TRIPLE),
        "layout": Option("tree models: table (edgekit's arrays, fast on big CPUs), ifelse (TL2cgen), compact (split nodes "
                         "only: the least flash), inline (edgekit's if-else: the fewest instructions on a microcontroller) "
                         "or quickscorer (the table, its AVX-512 batches by bitvectors: many small trees). Default: "
                         "quickscorer on x86-64 when every tree has at most 32 leaves, else table", LAYOUTS, "table"),
        "quantize": Option("none; thresholds (exact bin indices); int16 or int8 (bins and leaves)", QUANTIZE, "none"),
        "ifelse-max-mb": Option(f"--layout ifelse: refuse past this estimated source size in MB (gcc takes minutes past "
                                f"{IFELSE_MAX_SOURCE_MB})", None, str(IFELSE_MAX_SOURCE_MB)),
        "cflags": Option("extra compiler flags for the model, e.g. -mtune=cortex-a72 (space-separated)", text=True),
    },
    compile=compile_c,
)


def code_size_skip_reason(bundle: Any, options: dict[str, str]) -> str | None:
    """Why auto-fit does not try a tree bundle's C build in a layout that writes code per node (the
    if-else past its source-size limit, inline past its split-node limit), or None."""
    layout = options.get("layout")
    if bundle.info.family_kind != "trees" or layout not in ("ifelse", "inline"):
        return None
    try:
        tables = bundle_trees(bundle).tables
    except BadInput:
        return None  # not a model the C backend reads: compiling it says why
    refusal = ifelse_size_refusal(tables, ifelse_limit_mb(options)) if layout == "ifelse" else inline_refusal(tables)
    return None if refusal is None else refusal.message
