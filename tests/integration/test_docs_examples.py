"""The Python examples of docs/*.md run, in order, one session per page: a page that lies fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted(page for page in DOCS.glob("*.md") if "```python" in page.read_text())


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.MULTILINE | re.DOTALL)


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
