"""Counting the guest instructions a program executes under qemu, without plugins.

``-singlestep -d nochain,exec`` makes qemu log one ``Trace`` line per executed guest instruction
(each translation block holds one instruction, and blocks are not chained past the logger). The
log goes to a pipe and is counted as it streams (~90 bytes per instruction: never kept). The count
repeats exactly when the program's own work does: the harness's count mode reads no clock, and
runs with an empty environment.
"""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from ...errors import CheckFailed

MARKER = b"Trace "
TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class CountedRun:
    instructions: int
    stdout: bytes


def _count_lines(read_end: int, total: list[int]) -> None:
    carry = b""
    with os.fdopen(read_end, "rb", buffering=0) as log:
        while chunk := log.read(1 << 20):
            data = carry + chunk
            total[0] += data.count(MARKER)
            # A marker split across chunks starts in the last len-1 bytes, which cannot hold a whole one.
            carry = data[-(len(MARKER) - 1):]


def count_instructions(emulator: list[str], program_arguments: list[str], cwd: Path, stdin: Path | None) -> CountedRun:
    """Run ``emulator + tracing flags + program_arguments`` in ``cwd``; the guest instruction count
    and the program's stdout. ``emulator`` ends where qemu's own options end (qemu-user: the binary;
    qemu-system: machine options, the program follows as -kernel)."""
    read_end, write_end = os.pipe()
    total = [0]
    counter = threading.Thread(target=_count_lines, args=(read_end, total), daemon=True)
    counter.start()
    command = [*emulator, "-singlestep", "-d", "nochain,exec", "-D", f"/dev/fd/{write_end}", *program_arguments]
    try:
        with (stdin.open("rb") if stdin else open(os.devnull, "rb")) as source:
            result = subprocess.run(command, stdin=source, cwd=cwd, capture_output=True, pass_fds=(write_end,), env={},
                                    timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(f"{Path(emulator[0]).name} did not finish in {TIMEOUT_SECONDS} s", "bench a smaller model") from exc
    finally:
        os.close(write_end)
        counter.join()
    if result.returncode != 0:
        detail = " | ".join((result.stderr or result.stdout).decode(errors="replace").strip().splitlines()[:2])
        raise CheckFailed(f"the harness failed under {Path(emulator[0]).name} (exit {result.returncode}): {detail}",
                          "report the artifact; edgekit artifact verify runs the same harness")
    return CountedRun(total[0], result.stdout)
