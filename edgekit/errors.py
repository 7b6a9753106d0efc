"""The errors edgekit raises on purpose. Each carries its exit code and a hint saying what to do.

    EdgekitError            base class (exit 1), a OneLineError of edgekit_runtime.errors
    ├── BadInput            a file, dataset, option or bundle is wrong (exit 2)
    ├── CheckFailed         a check or a gate said no (exit 1)
    └── MissingTool         a required system tool is not installed (exit 3)

Errors of dependencies (pandas, scikit-learn, the runtime's IntegrityError) are translated where
they are caught, with ``raise ... from exc``; the CLI prints ``one_line()`` and exits.
"""

from __future__ import annotations

from edgekit_runtime.errors import OneLineError


class EdgekitError(OneLineError):
    exit_code = 1


class BadInput(EdgekitError):
    exit_code = 2


class CheckFailed(EdgekitError):
    exit_code = 1


class MissingTool(EdgekitError):
    exit_code = 3

    def __init__(self, tool: str, package: str, install: str | None = None) -> None:
        super().__init__(f"'{tool}' is not installed", f"install it with: {install or f'apt-get install {package}'}")
        self.tool = tool
        self.package = package
