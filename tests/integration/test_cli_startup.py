"""The command line starts without the heavy libraries: they are imported by the commands that use
them, so ``edgekit --help`` and friends cost Typer and Rich, not scikit-learn and ONNX."""

import json
import subprocess
import sys

import pytest

HEAVY = ["fastapi", "onnx", "onnxruntime", "scipy", "sklearn", "sqlalchemy", "treelite", "xgboost"]


def _loaded_after(code: str) -> list[str]:
    """The heavy top-level packages in sys.modules after running ``code`` in a fresh interpreter."""
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_command_line_loads_no_heavy_library():
    assert _loaded_after("import edgekit.cli") == []


@pytest.mark.parametrize("argv", [
    ["--help"], ["--version"], ["train", "--help"], ["compile", "--help"], ["check", "--help"], ["server", "--help"],
    ["rollout", "start", "--help"], ["pipeline", "run", "--help"], ["devices", "list"],
], ids=" ".join)
def test_help_and_light_commands_load_no_heavy_library(argv):
    run = f"sys.argv = ['edgekit', *{argv!r}]\nfrom edgekit.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass"
    assert _loaded_after(run) == []


def test_the_public_api_is_imported_on_first_use():
    # import edgekit costs nothing; naming a class brings in what it needs, as an eager import did
    assert _loaded_after("import edgekit") == []
    assert "sklearn" in _loaded_after("import edgekit\nedgekit.ModelBundle")
    assert _loaded_after("import edgekit_runtime\nedgekit_runtime.IntegrityError") == []
