"""Shared fixtures. Every test gets its own EDGEKIT_HOME, so none touches the user's registry."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgekit.cli import app

sys.path.insert(0, str(Path(__file__).parent))  # tests_support, shared by the test folders


@pytest.fixture(autouse=True)
def edgekit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "edgekit-home"
    monkeypatch.setenv("EDGEKIT_HOME", str(home))
    return home


class Cli:
    """Runs the edgekit CLI in-process through Typer's runner."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | os.PathLike[str]):
        return self.runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One XGBoost bundle on breast-cancer, trained once per session; copy it before changing it."""
    from edgekit import train_bundle

    root = tmp_path_factory.mktemp("session-bundle")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGEKIT_HOME", str(root / "home"))
        bundle = train_bundle("bundled:breast-cancer", root / "bundle")
    yield bundle.path


@pytest.fixture
def bundle_copy(trained_bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(trained_bundle, target)
    return target
