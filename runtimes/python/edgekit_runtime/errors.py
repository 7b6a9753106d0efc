"""Errors raised by the device runtime.

    OneLineError              a message, a hint saying what to do, and an exit code
    └── RuntimeFailure        base class of the runtime's errors (exit 1)
        ├── IntegrityError    a file is missing, truncated or altered (exit 2)
        ├── UnsupportedFormat a manifest from a newer or unknown format version (exit 2)
        ├── InvalidInput      rows of the wrong shape or type for the model (exit 2)
        │   └── NonFiniteOutput  rows the model gave NaN or infinity for: no prediction (exit 2)
        └── MissingRuntime    the model's runtime (onnxruntime, LiteRT) is not installed (exit 3)

The runtime never imports edgekit, so the build side translates these into its own tree, whose
base class also derives from OneLineError.
"""

from __future__ import annotations


class OneLineError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = f"{self.message.strip()}; {self.hint.strip()}" if self.hint else self.message
        return " ".join(text.split())

    def __str__(self) -> str:
        return self.one_line()


class RuntimeFailure(OneLineError):
    pass


class IntegrityError(RuntimeFailure):
    exit_code = 2

    def __init__(self, path: str, problem: str, hint: str = "") -> None:
        super().__init__(f"{path}: {problem}", hint or "restore the file from its source or rebuild it")
        self.path = path
        self.problem = problem


class UnsupportedFormat(RuntimeFailure):
    exit_code = 2


class InvalidInput(RuntimeFailure):
    exit_code = 2


class NonFiniteOutput(InvalidInput):
    """Rows whose output holds NaN or an infinity: not a prediction. ``rows`` are their indices in
    the batch, ``outputs`` every row's output (the others are answers)."""

    def __init__(self, rows: list[int], total: int, outputs: object = None) -> None:
        shown = ", ".join(map(str, rows[:5])) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
        super().__init__(f"{len(rows)} of {total} rows have no finite output (NaN or infinity), row {shown}",
                         "that is no prediction; check those rows for infinite or overflowing values")
        self.rows = rows
        self.outputs = outputs


class MissingRuntime(RuntimeFailure):
    exit_code = 3
