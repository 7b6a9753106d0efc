"""The errors edgekit raises on purpose. Each carries its exit code and a hint saying what to do.

    EdgekitError            base class (exit 1)
    ├── BadInput            a file, dataset, option or bundle is wrong (exit 2)
    ├── CheckFailed         a check or a gate said no (exit 1)
    └── MissingTool         a required system tool is not installed (exit 3)

Errors of dependencies (pandas, scikit-learn, the runtime's IntegrityError) are translated where
they are caught, with ``raise ... from exc``; the CLI prints ``one_line()`` and exits.
"""

from __future__ import annotations


class EdgekitError(Exception):
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


class BadInput(EdgekitError):
    exit_code = 2


class CheckFailed(EdgekitError):
    exit_code = 1


class MissingTool(EdgekitError):
    exit_code = 3

    def __init__(self, tool: str, package: str) -> None:
        super().__init__(f"'{tool}' is not installed", f"install it with: apt-get install {package}")
        self.tool = tool
        self.package = package
