"""Long work is never silent: a Rich bar on stderr at a terminal, plain lines anywhere else (CI logs,
pipes, files), so stdout stays the result alone (pure JSON with --json)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console

from .common import stderr

Step = Callable[[str], None]
HEARTBEAT_SECONDS = 30.0


@contextmanager
def progress(label: str, total: int | None = None, *, keep: bool = False, console: Console = stderr,
             heartbeat: float = HEARTBEAT_SECONDS) -> Iterator[Step]:
    """Yields ``step(line)``, called as each of ``total`` steps (None: unknown) ends.

    At a terminal the bar shows the latest line, and ``keep`` leaves every line above it (auto-fit's
    candidates). Elsewhere each step is one line, a line says the work goes on after ``heartbeat``
    seconds without one, and the elapsed time ends it. Nothing is printed before the first step or
    heartbeat, so bad input found at once stays a one-line error.
    """
    if console.is_terminal:
        with _bar(label, total, keep, console) as step:
            yield step
        return
    started = last = time.monotonic()
    done = 0
    lock, stop = threading.Lock(), threading.Event()

    def say(text: str) -> None:
        nonlocal last
        with lock:
            console.print(f"{label}{text}", markup=False, highlight=False)
            last = time.monotonic()

    def plain(line: str) -> None:
        nonlocal done
        done += 1
        say(f" [{done}/{total}]: {line}" if total else f": {line}")

    def beat() -> None:
        while not stop.wait(max(0.0, last + heartbeat - time.monotonic())):
            if time.monotonic() - last >= heartbeat:
                say(f": still working ({time.monotonic() - started:.0f} s)")

    beating = threading.Thread(target=beat, name="progress-heartbeat", daemon=True)
    beating.start()
    try:
        yield plain
    finally:
        stop.set()
        beating.join()
    say(f": done in {time.monotonic() - started:.1f} s")


@contextmanager
def _bar(label: str, total: int | None, keep: bool, console: Console) -> Iterator[Step]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [SpinnerColumn(), TextColumn("{task.description}", markup=False)]
    if total:
        columns += [BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)

        def live(line: str) -> None:
            if keep:
                bar.console.print(line, markup=False, highlight=False)
            bar.update(task, advance=1, description=f"{label}: {line}")

        yield live
