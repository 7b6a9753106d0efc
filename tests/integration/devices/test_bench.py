"""edgekit bench: native runs through the device harness, exact instruction counts on emulated
ISAs (qemu-user aarch64 and armhf, qemu-system-arm Cortex-M4), figures that check reads, the report."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests_support import assert_one_line_error, require_tool

from edgekit.artifact import Artifact
from edgekit.bench.emulated import emulate
from edgekit.bench.native import NativeSettings, host_cores, run_native
from edgekit.compile import compile_bundle
from edgekit.devices import load_profile

EMULATORS = {"raspberry-pi-4b": ("qemu-aarch64", "qemu-user"), "beaglebone-black": ("qemu-arm", "qemu-user"),
             "stm32f407": ("qemu-system-arm", "qemu-system-arm")}


@pytest.fixture(scope="module")
def c_artifact(trained_bundle, tmp_path_factory):
    return compile_bundle(trained_bundle, "c", tmp_path_factory.mktemp("bench") / "c").path


@pytest.fixture
def artifact_copy(c_artifact, tmp_path):
    """bench writes bench.json into the artifact: each test gets its own copy."""
    return Path(shutil.copytree(c_artifact, tmp_path / "c"))


@pytest.mark.parametrize("device", sorted(EMULATORS))
def test_emulated_instruction_counts_repeat_exactly_and_predictions_match(c_artifact, device, tmp_path):
    require_tool(*EMULATORS[device])
    artifact, profile = Artifact.load(c_artifact), load_profile(device)
    first = emulate(artifact, profile, tmp_path / "first")
    second = emulate(artifact, profile, tmp_path / "second")
    assert first.instruction_counts == second.instruction_counts
    assert first.instruction_counts[1] > first.instruction_counts[0] > 0
    assert first.matches_reference and first.max_abs_diff <= artifact.info.smoke_tolerance
    # 100 trees of depth <= 6: a few thousand instructions per inference on any of these cores
    assert 500 < first.instructions_per_inference < 50_000
    assert first.rebuilt and EMULATORS[device][0] in first.emulator


def test_the_shipped_cortex_m_library_is_what_runs_when_built_for_the_device(trained_bundle, tmp_path):
    require_tool("qemu-system-arm", "qemu-system-arm")
    shipped = compile_bundle(trained_bundle, "c", tmp_path / "m4", device=load_profile("stm32f407"))
    run = emulate(shipped, load_profile("stm32f407"), tmp_path / "work")
    assert not run.rebuilt and run.library == "the shipped lib/libedgekit_model.a" and run.matches_reference


def test_bench_records_emulated_figures_that_check_then_reads(cli, artifact_copy):
    require_tool("qemu-system-arm", "qemu-system-arm")
    result = cli("bench", artifact_copy, "--device", "stm32f407", "--emulate", "--runs", "200", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    single = report["native"]["single_row_us"]
    assert 0 < single["p50"] <= single["p90"] <= single["p99"] and report["native"]["fits_memory_cap"]
    assert report["native"]["batch"]["rows_per_second"] > 0 and report["native"]["peak_rss_bytes"] > 1 << 20
    (device,) = report["devices"]
    assert device["p99_ms"] > 0 and "qemu-system-arm -M mps2-an386" in device["how"] and "x 1.3 cycles" in device["how"]
    assert device["native"] is None  # a microcontroller gets no native run
    checked = cli("check", artifact_copy, "--device", "stm32f407", "--json")
    latency = next(f for f in json.loads(checked.stdout)["devices"][0]["findings"] if f["rule"] == "latency")
    assert "instructions per inference counted under qemu-system-arm" in latency["reason"]


def test_figures_of_another_build_are_ignored_and_a_damaged_file_is_a_clear_error(cli, artifact_copy):
    bench = artifact_copy / "bench.json"
    bench.write_text(json.dumps({"format_version": 1, "content_hash": "0" * 64,
                                 "devices": {"stm32f407": {"p99_ms": 99.0, "how": "stale"}}}))
    checked = cli("check", artifact_copy, "--device", "stm32f407", "--json")
    latency = next(f for f in json.loads(checked.stdout)["devices"][0]["findings"] if f["rule"] == "latency")
    assert "stale" not in latency["reason"] and "cost model" in latency["reason"]
    bench.write_text("{truncated")
    assert_one_line_error(cli("check", artifact_copy, "--device", "stm32f407"), 2, "bench.json: unreadable", "rerun edgekit bench")
    rerun = cli("bench", artifact_copy, "--runs", "50", "--json")  # a new run replaces the damaged file
    assert rerun.exit_code == 0, rerun.output
    assert json.loads(bench.read_text())["native"]["single_row_us"]["runs"] == 50


def test_bench_that_cannot_write_its_results_says_so(cli, artifact_copy):
    (artifact_copy / "bench.json").mkdir()  # in the way even for root
    assert_one_line_error(cli("bench", artifact_copy, "--runs", "50"), 2, "cannot write bench.json")
    assert not list(artifact_copy.glob(".bench.json.*"))


def test_a_linux_device_runs_natively_with_its_threads_and_a_memory_cap(artifact_copy):
    fits = run_native(artifact_copy, NativeSettings(threads=4, memory_cap_bytes=256 << 20, runs=100, warmup=10, batch=100))
    assert fits["fits_memory_cap"] and fits["threads"] == 4 and fits["peak_rss_bytes"] < 256 << 20
    stopped = run_native(artifact_copy, NativeSettings(memory_cap_bytes=8 << 20, runs=100, warmup=10, batch=100))
    assert not stopped["fits_memory_cap"] and stopped["resident_bytes_when_stopped"] > 8 << 20


def test_an_onnx_artifact_gets_native_figures_and_the_cost_model_for_devices(cli, trained_bundle, tmp_path):
    onnx = compile_bundle(trained_bundle, "onnx", tmp_path / "onnx").path
    result = cli("bench", onnx, "--device", "raspberry-pi-4b", "--emulate", "--runs", "100", "--json", "--report", tmp_path / "bench.html")
    assert result.exit_code == 0, result.output
    # reports are for sharing: readable by everyone, not mkstemp's private 0600
    assert [(path.name, path.stat().st_mode & 0o777) for path in (tmp_path / "bench.html", onnx / "bench.json")] == [
        ("bench.html", 0o644), ("bench.json", 0o644)]
    (device,) = json.loads(result.stdout)["devices"]
    assert device["p99_ms"] is None and device["cost_model_ms"] > 0 and "emulation runs C artifacts" in device["skipped"]
    assert device["native"]["device_cores"] == 4 and device["native"]["fits_memory_cap"]
    assert device["native"]["threads"] == min(4, host_cores())  # more threads than cores here would time contention


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        (["--emulate"], "--emulate needs at least one --device"),
        (["--device", "no-such-board"], "no-such-board"),
        (["--report", "missing-dir/bench.html"], "missing-dir: directory does not exist"),
    ],
)
def test_bad_bench_input_is_refused_before_anything_runs(cli, artifact_copy, arguments, fragment, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(cli("bench", artifact_copy, *arguments), 2, fragment)
    assert not (artifact_copy / "bench.json").exists()


def test_bench_of_a_directory_that_is_no_artifact(cli, tmp_path):
    assert_one_line_error(cli("bench", tmp_path), 2, "not an edgekit artifact")


# EDGEKIT_DOCS_SCREENSHOTS=1 saves the screenshot there (docs/images/bench-report.png)
DOCS_IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"


def _assert_nothing_outside_the_figure(figure) -> None:
    """Every title, label, tick label, value and legend drawn lies inside the image, and no plotted
    point lies under a legend."""
    from matplotlib.collections import PathCollection

    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    drawn, box = figure.get_tightbbox(renderer), figure.bbox_inches  # both in inches
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= box.x1 + 0.01 and drawn.y1 <= box.y1 + 0.01, (drawn, box)
    legends = [legend.get_window_extent(renderer) for legend in [*figure.legends, *(axis.get_legend() for axis in figure.axes)] if legend]
    for axis in figure.axes:
        for points in axis.findobj(PathCollection):
            for x, y in axis.transData.transform(points.get_offsets()):
                assert not any(legend.contains(x, y) for legend in legends), "a legend hides a plotted point"


def test_the_report_renders_its_plots_in_headless_chromium(cli, artifact_copy, tmp_path):
    chromium = require_tool("chromium", "chromium")
    require_tool("qemu-aarch64", "qemu-user")
    require_tool("qemu-system-arm", "qemu-system-arm")
    page = tmp_path / "bench.html"
    result = cli("bench", artifact_copy, "--device", "raspberry-pi-4b", "--device", "stm32f407", "--emulate", "--runs", "200",
                 "--report", page)
    assert result.exit_code == 0, result.output
    # reports are for sharing: readable by everyone, whatever mkstemp's private default
    assert page.stat().st_mode & 0o777 == 0o644 and (artifact_copy / "bench.json").stat().st_mode & 0o777 == 0o644
    text = page.read_text()
    assert text.count('src="data:image/png;base64,') == 3 and "http://" not in text and "https://" not in text
    from matplotlib.text import Text

    from edgekit.bench.report import PLOTS
    from edgekit.bench.run import bench_artifact

    reports = [bench_artifact(artifact_copy, [load_profile("raspberry-pi-4b"), load_profile("stm32f407")], True,
                              NativeSettings(runs=50, warmup=10), lambda _: None)]
    for _, plot in PLOTS:
        figure = plot(reports)
        assert figure is not None
        _assert_nothing_outside_the_figure(figure)
        written = " ".join(text.get_text() for text in figure.findobj(Text))
        assert len(set(re.findall(r"(?:\(|\d )(µs|ms|s)\b", written))) == 1, written  # one time unit per plot
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 900})
            tab.goto(page.as_uri())
            assert tab.evaluate("[...document.images].every(image => image.complete && image.naturalWidth > 0)")
            # nothing wider than the page: no element's box reaches past the viewport's right edge
            assert tab.evaluate("[...document.querySelectorAll('body *')].every(e => e.getBoundingClientRect().right <= "
                                "document.documentElement.clientWidth)")
            shot = tab.screenshot(full_page=True)
        finally:
            browser.close()
    from PIL import Image

    image = Image.open(io.BytesIO(shot)).convert("RGB")
    pixels = np.asarray(image) / 255.0
    assert pixels.shape[1] == 1400
    drawn = np.mean(np.any(pixels < 0.9, axis=2))  # share of pixels that are not (near) white
    colored = np.mean(np.ptp(pixels, axis=2) > 0.3)  # plot lines and bars are colored, text is grey
    assert drawn > 0.02 and colored > 0.002, (drawn, colored)
    if os.environ.get("EDGEKIT_DOCS_SCREENSHOTS") == "1":  # refreshing the docs' image, on request only: runs stay clean
        image.convert("P", palette=Image.Palette.ADAPTIVE, colors=128).save(DOCS_IMAGES / "bench-report.png", optimize=True)
