"""Gate declarations and verdicts (pure: the evidence is handed in)."""

import pytest

from edgekit.errors import BadInput
from edgekit.server.monitoring.gates import Evidence, GateSpec, judge, parse_gates


def _evidence(**changes) -> Evidence:
    values = {"seconds_at_stage": 120.0, "devices_tried": 10, "devices_failed": 0, "devices_unhealthy": 0,
              "latency_ratio": 1.1, "latency_detail": "", "prediction_psi": 0.02, "prediction_detail": ""}
    return Evidence(**{**values, **changes})


EVERY_GATE = GateSpec(failure_rate=0.1, error_rate=0.1, p99_latency_ratio=1.5, prediction_psi=0.2)


def test_every_gate_passing_after_the_hold_passes():
    verdict, results = judge(EVERY_GATE, _evidence())
    assert verdict == "pass" and [result.verdict for result in results] == ["pass"] * 4
    assert judge(EVERY_GATE, _evidence(seconds_at_stage=5))[0] == "wait"  # the hold (60 s) is not over


@pytest.mark.parametrize(("changes", "gate"), [
    ({"devices_failed": 2}, "failure_rate"),
    ({"devices_unhealthy": 2}, "error_rate"),
    ({"latency_ratio": 1.6}, "p99_latency_ratio"),
    ({"prediction_psi": 0.5}, "prediction_psi"),
])
def test_one_failing_gate_fails_the_stage_even_during_the_hold(changes, gate):
    verdict, results = judge(EVERY_GATE, _evidence(seconds_at_stage=1, **changes))
    assert verdict == "fail" and [result.gate for result in results if result.verdict == "fail"] == [gate]


def test_missing_evidence_waits_and_undeclared_gates_are_not_judged():
    verdict, results = judge(EVERY_GATE, _evidence(latency_ratio=None, prediction_psi=None, devices_tried=1))
    assert verdict == "wait" and {result.verdict for result in results} == {"wait"}
    only_failures = GateSpec(failure_rate=0.1)
    assert [result.gate for result in judge(only_failures, _evidence(prediction_psi=9.0))[1]] == ["failure_rate"]


def test_one_failing_device_never_decides_a_failure_gate_alone():
    for gate in ("failure_rate", "error_rate"):
        spec = GateSpec(**{gate: 0.05})
        assert spec.min_devices >= 3
        alone = _evidence(devices_tried=1, devices_failed=1, devices_unhealthy=1)
        assert judge(spec, alone)[0] == "wait", gate
        two = _evidence(devices_tried=2, devices_failed=2, devices_unhealthy=2)
        assert judge(spec, two)[0] == "wait", gate
        assert judge(spec, _evidence(devices_tried=3, devices_failed=1, devices_unhealthy=1))[0] == "fail", gate


def test_a_stage_smaller_than_min_devices_passes_when_all_its_devices_installed_but_never_fails_on_them():
    spec = GateSpec(failure_rate=0.05)
    assert judge(spec, _evidence(devices_tried=2, devices_in_stage=2))[0] == "pass"
    assert judge(spec, _evidence(devices_tried=1, devices_in_stage=2))[0] == "wait"  # one has not tried yet
    verdict, results = judge(spec, _evidence(devices_tried=2, devices_failed=1, devices_in_stage=2))
    assert verdict == "wait" and "by hand" in results[0].detail  # one failure of two must not roll back alone
    assert judge(spec, _evidence(devices_tried=0, devices_in_stage=0))[0] == "wait"  # an empty stage has no evidence


def test_gates_from_options_and_a_file(tmp_path):
    spec = parse_gates(["prediction_psi<=0.3", "hold_seconds=5", "on_fail=pause"], None)
    assert spec.prediction_psi == 0.3 and spec.hold_seconds == 5 and spec.on_fail == "pause" and spec.declared() == ["prediction_psi"]
    file = tmp_path / "gates.yaml"
    file.write_text("gates:\n  failure_rate: 0.05\n  p99_latency_ratio: 2\nmin_devices: 4\n")
    from_file = parse_gates(["failure_rate<=0.01"], file)
    assert from_file.failure_rate == 0.01 and from_file.p99_latency_ratio == 2  # the option wins over the file
    assert from_file.min_devices == 4  # a setting beside the gates: mapping counts too
    assert parse_gates([], None) is None


@pytest.mark.parametrize(("texts", "fragment"), [
    (["psi<=1"], "unknown gate"),
    (["prediction_psi"], "NAME<=VALUE"),
    (["prediction_psi=0.2"], "prediction_psi<=VALUE"),
    (["hold_seconds<=2"], "hold_seconds=VALUE"),
    (["failure_rate<=1.5"], "failure_rate"),
    (["on_fail=explode", "failure_rate<=0.1"], "on_fail"),
    (["hold_seconds=3"], "no gate is declared"),
])
def test_bad_gates_are_refused_with_the_rule(texts, fragment):
    with pytest.raises(BadInput, match=fragment.replace("<", ".").replace("=", ".")):
        parse_gates(texts, None)


def test_a_bad_gates_file_is_refused(tmp_path):
    file = tmp_path / "gates.yaml"
    file.write_text("[1, 2]\n")
    with pytest.raises(BadInput, match="mapping"):
        parse_gates([], file)
    with pytest.raises(BadInput, match="cannot read"):
        parse_gates([], tmp_path / "missing.yaml")
