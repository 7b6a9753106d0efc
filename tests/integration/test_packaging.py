"""The wheels hold every subpackage and every template: packages are found, not listed by hand, so
a new folder cannot be left out of an install again."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "runtimes" / "python"


def _build(source: Path, out: Path) -> tuple[set[str], str]:
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(out), str(source)],
                            capture_output=True, text=True, check=True)
    wheel = next(out.glob("*.whl"))
    return set(zipfile.ZipFile(wheel).namelist()), result.stdout + result.stderr


def _package_files(base: Path, top: str) -> set[str]:
    """Every module and template of the package ``top`` under ``base``, as wheel paths."""
    return {path.relative_to(base).as_posix() for pattern in ("*.py", "*.html")
            for path in (base / top).rglob(pattern) if "__pycache__" not in path.parts}


def _copy_sources(destination: Path, *relative: str) -> None:
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in relative:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=skip)
        else:
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


@pytest.mark.slow
def test_the_edgekit_wheel_holds_every_subpackage_and_template(tmp_path):
    source = tmp_path / "source"  # a copy: building writes build/ and egg-info beside the sources
    _copy_sources(source, "pyproject.toml", "README.md", "edgekit", "runtimes/python/edgekit_runtime")
    names, log = _build(source, tmp_path / "dist")
    expected = _package_files(source, "edgekit") | _package_files(source / "runtimes" / "python", "edgekit_runtime")
    assert expected - names == set()
    assert any(name.startswith("edgekit/server/dashboard/templates/") for name in names)
    assert "would be ignored" not in log and "is absent from the `packages` configuration" not in log


@pytest.mark.slow
def test_the_runtime_wheel_holds_every_subpackage(tmp_path):
    source = tmp_path / "runtime"
    shutil.copytree(RUNTIME, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    names, _ = _build(source, tmp_path / "dist")
    assert _package_files(source, "edgekit_runtime") - names == set()
    assert not any(name.startswith("edgekit/") for name in names)
