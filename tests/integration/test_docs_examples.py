"""The Python examples of docs/*.md run, in order, one session per page: a page that lies fails here. The device
page's example runs on a device the agent enrolled; the rest show the build side."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from edgekit_runtime.archive import pack
from tests_support import pi4_onnx, served_home

from edgekit.fleet.client import AdminClient

DOCS = Path(__file__).resolve().parents[2] / "docs"
DEVICE_PAGE = DOCS / "agent.md"  # its Python runs on an enrolled device: test_every_python_snippet_of_the_device_page_...


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.MULTILINE | re.DOTALL)


PAGES = sorted(page for page in DOCS.glob("*.md") if python_blocks(page) and page != DEVICE_PAGE)  # a fence, not a mention


def test_the_api_page_has_examples():
    assert DOCS / "python-api.md" in PAGES and len(python_blocks(DOCS / "python-api.md")) >= 5


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_example_runs(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, block in enumerate(python_blocks(page), start=1):
        try:
            exec(compile(block, f"{page.name} example {number}", "exec"), namespace)  # noqa: S102 - our own docs
        except Exception as exc:  # noqa: BLE001 - any failure of a documented example fails the page
            pytest.fail(f"{page.name} example {number} raised {exc.__class__.__name__}: {exc}")
    printed = capsys.readouterr().out
    assert "<ModelBundle" in printed and "<Artifact" in printed
    shown = [value for value in namespace.values() if type(value).__module__.startswith("edgekit")
             and hasattr(type(value), "_repr_html_")]
    assert {type(value).__name__ for value in shown} >= {"ModelBundle", "Artifact", "CheckReport", "BenchReport"}
    for value in shown:  # what a notebook renders: a table, with every value escaped
        html = value._repr_html_()
        assert html.startswith("<div><strong>") and "<table>" in html and "<script" not in html


DEVICE_STATE_DIR = "/var/lib/edgekit"  # the state directory the device page's examples use


def test_every_python_snippet_of_the_device_page_runs_on_an_enrolled_device(trained_bundle, tmp_path, monkeypatch):
    """The device page's Python runs as written against a device the agent has enrolled and
    updated from a real server (only its state directory moves into this test's scratch space)."""
    blocks = python_blocks(DEVICE_PAGE)
    assert blocks and any("current_model" in block and "report_unhealthy" in block for block in blocks)
    state = tmp_path / "device"
    with served_home(tmp_path / "srv") as (url, key):
        admin = AdminClient(url, key)
        upload = admin.upload(pack(pi4_onnx(trained_bundle, tmp_path, "a")[0]))
        admin.request("POST", "/v1/admin/releases", json={"model": "readme", "upload": upload["sha256"], "profiles": ["raspberry-pi-4b"]})
        admin.request("POST", "/v1/admin/rollouts", json={"model": "readme", "stages": [100]})
        token = admin.request("POST", "/v1/admin/enrollment-tokens", json={"profile": "raspberry-pi-4b"})["token"]
        for command in (["enroll", "--server", url, "--token", token, "--model", "readme"], ["once"]):
            done = subprocess.run([sys.executable, "-m", "edgekit_runtime.cli", "agent", *command, "--state-dir", str(state)],
                                  check=False, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
        admin.close()
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__device_page__"}
    for number, block in enumerate(blocks, start=1):
        try:
            exec(compile(block.replace(DEVICE_STATE_DIR, str(state)), f"agent.md example {number}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # noqa: BLE001 - any failure of a documented example fails the page
            pytest.fail(f"agent.md example {number} raised {exc.__class__.__name__}: {exc}")
    assert namespace["scores"].shape == (1, 2)
