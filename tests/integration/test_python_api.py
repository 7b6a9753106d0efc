"""edgekit.compile / check / bench from Python: Python arguments in, the CLI's errors out."""

from __future__ import annotations

import pytest

import edgekit
from edgekit import BadInput, CheckReport


@pytest.fixture(scope="module")
def onnx_artifact(trained_bundle, tmp_path_factory):
    return edgekit.compile(trained_bundle, "onnx", tmp_path_factory.mktemp("api") / "onnx")


def test_compile_defaults_out_beside_the_bundle_and_takes_keyword_options(bundle_copy):
    artifact = edgekit.compile(bundle_copy, "c", layout="ifelse", quantize="thresholds")
    assert artifact.path == bundle_copy.parent / "bundle-c"
    assert artifact.info.options["layout"] == "ifelse" and artifact.info.parity["passed"]
    assert repr(artifact).startswith("<Artifact breast-cancer v1 for c (fp32,")


def test_check_takes_ids_tuples_profiles_or_everything(onnx_artifact):
    pi = edgekit.load_profile("raspberry-pi-4b")
    one = edgekit.check(onnx_artifact, "raspberry-pi-4b")
    several = edgekit.check(onnx_artifact, ("raspberry-pi-4b", pi, "rp2040"))
    everything = edgekit.check(onnx_artifact)
    assert isinstance(one, CheckReport) and one.passed and one["raspberry-pi-4b"].verdict == "pass"
    assert not several.passed and several["rp2040"].verdict == "fail"
    assert {entry.device for entry in everything} == set(edgekit.profile_ids())
    assert "rp2040: fail" in repr(several) and "<table>" in several._repr_html_()


@pytest.mark.parametrize(("call", "message"), [
    (lambda artifact, bundle: edgekit.check(artifact, []), "no devices to check against"),
    (lambda artifact, bundle: edgekit.check(artifact, "toaster"), "toaster"),
    (lambda artifact, bundle: edgekit.bench(artifact, emulate=True), "emulate=True needs at least one device"),
    (lambda artifact, bundle: edgekit.bench(artifact, runs=3), "runs=3"),
    (lambda artifact, bundle: edgekit.compile(bundle, "auto"), "target 'auto' needs device="),
    (lambda artifact, bundle: edgekit.compile(bundle, "auto", device="stm32f407", layout="table"), "target 'auto' needs device="),
    (lambda artifact, bundle: edgekit.compile(bundle, "onnx", opset="new"), "is not a whole number"),
    (lambda artifact, bundle: edgekit.compile(bundle, "wasm"), "unknown target 'wasm'"),
])
def test_bad_arguments_raise_the_clis_errors(onnx_artifact, trained_bundle, call, message):
    with pytest.raises(BadInput, match=message):
        call(onnx_artifact, trained_bundle)
