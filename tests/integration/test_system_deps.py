"""scripts/system-deps.sh: which Debian packages `make demo` and `make test` ask for. Run without
root and with EDGEKIT_DEPS_DRY_RUN=1, so it prints the apt-get line and installs nothing; PATH and
EDGEKIT_DEPS_ROOT point at a directory of our own, so which tools are present is up to the test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "system-deps.sh"
BASH = shutil.which("bash") or "/bin/bash"
CROSS_PACKAGES = ["gcc-aarch64-linux-gnu", "gcc-arm-linux-gnueabihf", "gcc-arm-none-eabi", "libnewlib-arm-none-eabi",
                  "libc6-dev-arm64-cross", "libc6-dev-armhf-cross", "qemu-user", "qemu-system-arm"]


def _dry_run(mode: str, root: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(root / "bin"), "EDGEKIT_DEPS_ROOT": str(root), "EDGEKIT_DEPS_DRY_RUN": "1", "HOME": str(root)}
    return subprocess.run([BASH, str(SCRIPT), mode], env=env, capture_output=True, text=True, timeout=30, check=False)


def _planned(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = [line for line in result.stdout.splitlines() if line.startswith("would run: apt-get install")]
    assert len(lines) == 1, result.stdout + result.stderr
    return lines[0].split("--no-install-recommends", 1)[1].split()


@pytest.fixture()
def bare(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    return tmp_path


def test_demo_mode_asks_for_the_cross_toolchains_and_qemu(bare: Path) -> None:
    result = _dry_run("demo", bare)
    assert result.returncode == 0, result.stderr
    planned = _planned(result)
    assert set(planned) == {"gcc", *CROSS_PACKAGES}
    assert "chromium" not in planned and "postgresql" not in planned  # test-only tools stay out of the demo


def test_tests_mode_asks_for_the_demo_tools_and_the_test_only_ones(bare: Path) -> None:
    planned = _planned(_dry_run("tests", bare))
    assert {"gcc", *CROSS_PACKAGES, "chromium", "faketime", "nginx", "postgresql"} <= set(planned)


def test_demo_mode_asks_for_nothing_when_everything_is_present(bare: Path) -> None:
    for command in ("gcc", "aarch64-linux-gnu-gcc", "arm-linux-gnueabihf-gcc", "arm-none-eabi-gcc", "qemu-aarch64", "qemu-system-arm"):
        tool = bare / "bin" / command
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
    for library in ("usr/lib/arm-none-eabi/newlib/libc.a", "usr/aarch64-linux-gnu/lib/libc.a", "usr/arm-linux-gnueabihf/lib/libc.a"):
        (bare / library).parent.mkdir(parents=True, exist_ok=True)
        (bare / library).touch()
    result = _dry_run("demo", bare)
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""


def test_only_what_is_missing_is_asked_for(bare: Path) -> None:
    (bare / "bin" / "gcc").write_text("#!/bin/sh\n")
    (bare / "bin" / "gcc").chmod(0o755)
    assert "gcc" not in _planned(_dry_run("demo", bare))


def test_without_root_it_names_what_is_missing_and_carries_on(bare: Path) -> None:
    # a stand-in `id` says we are not root, so the real script takes its not-root branch even when the test runs as root
    (bare / "bin" / "id").write_text("#!/bin/sh\necho 1000\n")
    (bare / "bin" / "id").chmod(0o755)
    env = {"PATH": str(bare / "bin"), "EDGEKIT_DEPS_ROOT": str(bare), "HOME": str(bare)}
    result = subprocess.run([BASH, str(SCRIPT), "demo"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0
    assert result.stderr.startswith("missing Debian packages: gcc ") and "libnewlib-arm-none-eabi" in result.stderr
    assert "apt-get install" in result.stderr and "installing" not in result.stdout
