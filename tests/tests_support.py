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


# The data every compile target is tested on: (data, label, task) per case.
COMPILE_DATASETS = {
    "binary": ("bundled:breast-cancer", None, None),
    "multiclass": ("bundled:wine", None, None),
    "regression": ("synthetic:sensors?rows=1500&missing=0", "temperature_c", "regression"),
    "missing": ("synthetic:sensors?rows=2000&missing=0.05", None, None),
}
DENSE_FAMILIES = {"logistic", "linear", "mlp"}


def compile_cases(every_family: tuple[str, ...], dense_only: tuple[str, ...]):
    """(dataset, family, target) for every family that does the dataset's task: the targets
    every family takes, then those only dense models take."""
    from edgekit.train.families import family_names, get_family

    for dataset, (_, _, task) in COMPILE_DATASETS.items():
        for family in family_names():
            if (task or "classification") in get_family(family).tasks:
                targets = every_family + (dense_only if family in DENSE_FAMILIES else ())
                yield from ((dataset, family, target) for target in targets)


def bundle_cache(root):
    """get(dataset, family) -> bundle path, trained once under ``root`` on COMPILE_DATASETS."""
    from edgekit import train_bundle

    cache = {}

    def get(dataset: str, family: str):
        if (dataset, family) not in cache:
            data, label, task = COMPILE_DATASETS[dataset]
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("EDGEKIT_HOME", str(root / "home"))
                bundle = train_bundle(data, root / f"{dataset}-{family}", family=family, label=label, task=task)
            cache[(dataset, family)] = bundle.path
        return cache[(dataset, family)]

    return get
