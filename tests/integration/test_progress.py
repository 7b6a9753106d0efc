"""Long commands are never silent: through a pipe (a CI log) one plain line per step on stderr, with
stdout's --json document untouched; at a terminal a Rich bar."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import time

import pytest
from rich.console import Console
from tests_support import edgekit_script

from edgekit.commands.progress import progress


def _piped(*args, home) -> subprocess.CompletedProcess:
    return subprocess.run([edgekit_script(), *map(str, args)], capture_output=True, text=True, check=False, timeout=600,
                          env={**os.environ, "EDGEKIT_HOME": str(home)})


def test_train_compile_and_bench_log_one_line_per_step_and_keep_json_pure(tmp_path):
    trained = _piped("train", "bundled:breast-cancer", "--tune", "3", "--out", tmp_path / "bundle", "--json", home=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["name"]
    lines = trained.stderr.splitlines()
    assert [line.split(": ")[0] for line in lines[:3]] == [f"tuning xgboost [{n}/3]" for n in (1, 2, 3)], lines
    assert all(re.search(r"trial \d+: validation score \S+ \(best \S+\)$", line) for line in lines[:3]), lines
    assert re.fullmatch(r"tuning xgboost: done in \d+\.\d s", lines[3]) and len(lines) == 4, lines

    compiled = _piped("compile", tmp_path / "bundle", "--target", "onnx", "--out", tmp_path / "onnx", "--json", home=tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    assert json.loads(compiled.stdout)["target"] == "onnx"
    assert re.fullmatch(r"compiling \S+ for onnx: done in \d+\.\d s\n", compiled.stderr), compiled.stderr

    benched = _piped("bench", tmp_path / "onnx", "--runs", "20", "--json", home=tmp_path)
    assert benched.returncode == 0, benched.stderr
    assert json.loads(benched.stdout)["native"]
    lines = benched.stderr.splitlines()
    assert len(lines) == 2 and lines[0].endswith("[1/1]: native, 1 thread") and "done in" in lines[1], lines


def test_a_quiet_step_gets_a_heartbeat_line_and_a_quick_failure_prints_nothing():
    log = Console(file=io.StringIO(), width=200)
    with progress("compiling big", console=log, heartbeat=0.05) as step:
        time.sleep(0.18)
        step("first half")
    lines = log.file.getvalue().splitlines()
    assert any(re.fullmatch(r"compiling big: still working \(\d+ s\)", line) for line in lines[:-2]), lines
    assert lines[-2:] == ["compiling big: first half", lines[-1]] and lines[-1].startswith("compiling big: done in ")
    quiet = Console(file=io.StringIO())
    with pytest.raises(ValueError), progress("compiling", console=quiet, heartbeat=5):
        raise ValueError("bad input, found at once")
    assert quiet.file.getvalue() == ""  # the error stays the only line


def test_at_a_terminal_a_bar_runs_and_kept_lines_stay_above_it():
    terminal = Console(file=io.StringIO(), force_terminal=True, width=120)
    with progress("fitting m to stm32f407", 2, keep=True, console=terminal) as step:
        step("c table: 12 KB flash, fits")
        step("c compact: 9 KB flash, fits")
    shown = terminal.file.getvalue()
    assert "c table: 12 KB flash, fits" in shown and "c compact: 9 KB flash, fits" in shown
    assert "\x1b[" in shown  # drawn live with terminal controls, not as plain log lines
    assert "done in" not in shown
