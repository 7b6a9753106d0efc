"""The shell examples of README.md and docs/*.md run, in order, one bash session per page: a pasted
command that breaks fails here. The conventions (`<!-- not run: why -->`, `# exits N: why`) are
documented in docs/writing-docs.md; this test honours exactly those."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests_support import free_port

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELLS = ("bash", "sh", "console")
NOT_RUN = re.compile(r"^<!-- not run: \S.*-->$")
EXPECTED_EXIT = re.compile(r"^(?P<command>.*\S)\s+# exits (?P<code>\d+): \S.*$")
PORTS = ("8080", "8765")  # the ports the pages use; each run gets free ones so pages run side by side
PAGE_SECONDS = 600


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    body: str
    runs: bool


def shell_blocks(text: str) -> list[Block]:
    blocks, lines, index = [], text.splitlines(), 0
    while index < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[index])
        if not fence:
            index += 1
            continue
        end = next(number for number in range(index + 1, len(lines)) if lines[number].startswith("```"))
        if fence.group(1) in SHELLS:
            runs = index == 0 or not NOT_RUN.match(lines[index - 1].strip())
            blocks.append(Block(index + 1, fence.group(1), "\n".join(lines[index + 1:end]), runs))
        index = end + 1
    return blocks


def commands_of(block: Block) -> list[str]:
    """A console block's commands are its `$ ` lines (and their continuations); the rest is output."""
    if block.language != "console":
        return block.body.splitlines()
    commands, continuing = [], False
    for line in block.body.splitlines():
        if line.startswith("$ ") or continuing:
            commands.append(line.removeprefix("$ "))
            continuing = line.endswith("\\")
    return commands


def expecting(line: str) -> str:
    """`CMD  # exits N: why` → run CMD and fail unless it exits N."""
    found = EXPECTED_EXIT.match(line)
    if not found:
        return line
    command, code = found.group("command"), found.group("code")
    return (f"set +e; {command}\ndocs_rc=$?; set -e\n"
            f"if [ $docs_rc -ne {code} ]; then echo \"expected exit {code}, got $docs_rc:\" {shlex.quote(command)} >&2; "
            f"exit 97; fi")


def page_script(blocks: list[Block], ports: dict[str, str]) -> str:
    parts = ["set -e", "trap 'docs_rc=$?; [ $docs_rc -eq 0 ] || echo \"failed in the block at line $DOCS_LINE\" >&2' EXIT"]
    for block in blocks:
        if block.runs:
            parts.append(f"DOCS_LINE={block.line}")
            parts.extend(expecting(line) for line in commands_of(block))
    script = "\n".join(parts) + "\n"
    for documented, free in ports.items():
        script = re.sub(rf"\b{documented}\b", free, script)
    return script


RUNNABLE = [page for page in PAGES if any(block.runs for block in shell_blocks(page.read_text()))]


def test_the_conventions_are_parsed_as_documented():
    text = ("```bash\necho a\n```\n<!-- not run: a real device -->\n```sh\nexit 3\n```\n"
            "```console\n$ echo b \\\n  c\nb c\n```\n```python\nprint(1)\n```\n")
    blocks = shell_blocks(text)
    assert [(block.line, block.language, block.runs) for block in blocks] == [(1, "bash", True), (5, "sh", False),
                                                                                (8, "console", True)]
    assert commands_of(blocks[2]) == ["echo b \\", "  c"]
    assert expecting("false   # exits 1: says no").startswith("set +e; false\n")
    assert expecting("false   # exits 1") == "false   # exits 1"  # a marker without its reason is no marker


@pytest.mark.parametrize(("script", "passes"), [("false  # exits 1: announced", True), ("true  # exits 1: announced", False),
                                                 ("false", False), ("true", True)])
def test_an_announced_exit_is_the_only_failure_allowed(tmp_path, script, passes):
    blocks = shell_blocks(f"```bash\n{script}\n```\n")
    done = subprocess.run(["bash", "-c", page_script(blocks, {})], cwd=tmp_path, check=False, capture_output=True)
    assert (done.returncode == 0) is passes


def test_every_page_with_a_runnable_block_is_found():
    assert ROOT / "README.md" in RUNNABLE and len(RUNNABLE) >= 10
    for page in PAGES:  # a shell block the test does not recognise would silently not run
        for fence in re.findall(r"^```(\w+)", page.read_text(), flags=re.MULTILINE):
            assert fence in {*SHELLS, "python", "yaml", "json", "text"}, f"{page.name}: unknown fence ```{fence}"


@pytest.mark.parametrize("page", RUNNABLE, ids=[page.name for page in RUNNABLE])
def test_every_shell_example_runs(page, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("EDGEKIT_ADMIN")}
    environment.update(HOME=str(scratch), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    script = page_script(shell_blocks(page.read_text()), {port: str(free_port()) for port in PORTS})
    log = tmp_path / "output.txt"  # a file, not a pipe: a server the page left running would hold a pipe open
    with log.open("w") as output:
        process = subprocess.Popen(["bash", "-c", script], cwd=scratch, env=environment, start_new_session=True,
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        process.wait(timeout=PAGE_SECONDS)
    finally:
        try:  # whatever the page left running (a server it did not stop), and the page itself on a timeout
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        process.wait()
    assert process.returncode == 0, f"{page.name}: exit {process.returncode}\n{log.read_text()[-4000:]}"


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_blocks_that_do_not_run_here_still_parse(page):
    """An illustrative block is still pasted by someone: it must at least be valid bash."""
    for block in shell_blocks(page.read_text()):
        if not block.runs:
            done = subprocess.run(["bash", "-n"], input="\n".join(commands_of(block)), check=False,
                                  capture_output=True, text=True)
            assert done.returncode == 0, f"{page.name}, block at line {block.line}: {done.stderr}"
