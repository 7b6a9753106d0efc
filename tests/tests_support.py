"""Helpers the tests share (importable because conftest puts this folder on sys.path)."""

from __future__ import annotations

import os
import shutil

import pytest

STRICT_TOOLS = os.environ.get("EDGEKIT_STRICT_TOOLS") == "1"


def require_tool(command: str, package: str) -> str:
    """The tool's path; skips without it, or fails in strict mode (CI), naming the Debian package."""
    path = shutil.which(command)
    if path is None:
        message = f"'{command}' is not installed (Debian package {package})"
        if STRICT_TOOLS:
            pytest.fail(message + " and EDGEKIT_STRICT_TOOLS=1")
        pytest.skip(message)
    return path


def assert_one_line_error(result, code: int, *fragments: str) -> None:
    """A CLI result failed with ``code`` and one stderr line (no traceback) holding every fragment."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
