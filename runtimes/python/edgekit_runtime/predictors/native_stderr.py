"""Native libraries (LiteRT, TL2cgen) log straight to file descriptor 2, past Python's sys.stderr.
This keeps their routine notices off a command's stderr, which must hold one line on error."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def filtered_native_stderr(is_noise: Callable[[str], bool]) -> Iterator[None]:
    """Capture fd 2 for the block, then write back every line that is not noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().decode(errors="replace").splitlines(keepends=True) if not is_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
