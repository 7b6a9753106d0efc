"""The agent's telemetry deltas: counters subtracted, descriptions copied, restarts not negative."""

import json

from edgekit_runtime.agent.telemetry_report import mark_sent, pending_reports


def write(state, name, rows, latency_counts, pid):
    report = {"rows": rows, "rows_with_violations": 0, "violations": {"missing": 0}, "features": {},
              "histograms": {"rows": rows, "features": {"f": {"counts": [rows], "missing": 0}},
                             "predictions": {"kind": "classes", "counts": [rows]},
                             "latency_us": {"buckets": [1, 2], "counts": latency_counts}}}
    (state / "telemetry").mkdir(exist_ok=True)
    (state / "telemetry" / name).write_text(json.dumps({"release": "m/1/c.tar", "pid": pid, "written": 100.0 + rows, "report": report}))


def test_deltas_keep_descriptions_and_survive_a_counter_restart(tmp_path):
    import os

    write(tmp_path, "a.json", 10, [10, 0], os.getpid())
    (_, first), = pending_reports(tmp_path, 32 << 10)
    assert first["counters"]["rows"] == 10 and first["latency_us"]["buckets"] == [1, 2]
    mark_sent(tmp_path, "a.json")
    write(tmp_path, "a.json", 25, [20, 5], os.getpid())
    (_, second), = pending_reports(tmp_path, 32 << 10)
    assert second["counters"]["rows"] == 15 and second["latency_us"] == {"buckets": [1, 2], "counts": [10, 5]}
    assert second["predictions"] == {"kind": "classes", "counts": [15]}
    mark_sent(tmp_path, "a.json")
    write(tmp_path, "a.json", 4, [4, 0], os.getpid())  # the counters restarted under the same name
    (_, third), = pending_reports(tmp_path, 32 << 10)
    assert third["counters"]["rows"] == 4 and min(third["features"]["f"]["counts"]) >= 0


def test_a_dead_process_with_nothing_new_is_forgotten(tmp_path):
    write(tmp_path, "gone.json", 0, [0, 0], 2**22 + 12345)  # no such pid
    assert pending_reports(tmp_path, 32 << 10) == [] and not (tmp_path / "telemetry" / "gone.json").exists()
