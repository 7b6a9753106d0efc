"""Running a harness built for a triple on rows: natively, under qemu-user, or as a bare-metal
image under qemu-system-arm with semihosting (the image reads rows.csv from its working directory).

Rows go in as CSV with %.9g (exact for float32; NaN prints as "nan", which strtof reads back),
outputs come back the same way, so the comparison sees exactly what the target's code computed.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ...errors import CheckFailed
from .toolchains import Toolchain

ROWS_FILE = "rows.csv"
TIMEOUT_SECONDS = 900


def run_harness(toolchain: Toolchain, program: Path, rows: np.ndarray, outputs: int) -> np.ndarray:
    """The harness's predictions for ``rows``: float32 [n, outputs]."""
    rows = np.asarray(rows, dtype=np.float32)
    if len(rows) == 0:
        return np.empty((0, outputs), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="edgekit-harness-") as work:
        data = Path(work) / ROWS_FILE
        np.savetxt(data, rows, fmt="%.9g", delimiter=",")
        command = [*toolchain.runner, str(program.resolve())]
        try:
            # A bare-metal image opens rows.csv itself; qemu's own stdin would feed its monitor.
            with data.open("rb") as rows_in:
                stdin = subprocess.DEVNULL if toolchain.baremetal else rows_in
                result = subprocess.run(command, stdin=stdin, cwd=work, capture_output=True, timeout=TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired as exc:
            raise CheckFailed(f"the {toolchain.triple} harness did not finish in {TIMEOUT_SECONDS} s", "report the bundle") from exc
    where = f"under {toolchain.runner[0]}" if toolchain.runner else "natively"
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()[:2]
        raise CheckFailed(
            f"the {toolchain.triple} harness failed {where} (exit {result.returncode}): {' | '.join(detail)}",
            "report the bundle; the same sources build with --triple x86_64-linux-gnu for comparison",
        )
    values = np.loadtxt(io.StringIO(result.stdout.decode()), delimiter=",", dtype=np.float32, ndmin=2)
    if values.shape != (len(rows), outputs):
        raise CheckFailed(
            f"the {toolchain.triple} harness printed {values.shape} values for {len(rows)} rows of {outputs} outputs",
            "report the bundle",
        )
    return values


def instructions_per_row(toolchain: Toolchain, program: Path, rows: np.ndarray) -> float:
    """Guest instructions one edgekit_predict executes on a bare-metal board, averaged over ``rows``:
    the harness's count mode once and twice over them, the difference divided by the rows (start-up,
    file reading and printing cancel out)."""
    from .instruction_count import count_instructions

    rows = np.asarray(rows, dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="edgekit-count-") as work:
        np.savetxt(Path(work) / ROWS_FILE, rows, fmt="%.9g", delimiter=",")
        machine = [toolchain.runner[0], "-M", str(toolchain.board), "-nographic", "-semihosting-config"]
        counts = [count_instructions([*machine, f"enable=on,target=native,arg=harness,arg=--count,arg={passes}"],
                                     ["-kernel", str(program.resolve())], Path(work), None).instructions
                  for passes in (1, 2)]
    return (counts[1] - counts[0]) / len(rows)
