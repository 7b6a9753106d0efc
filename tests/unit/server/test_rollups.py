"""Telemetry rollups without a database: a batch's sums per key, sums that add up the same however
reports are batched, and the group commit that answers each report only once its batch is written."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

import numpy as np
import pytest

from edgekit.server.ingest.group_commit import GroupCommit
from edgekit.server.ingest.rollups import Accepted, RollupKey, added, summed
from edgekit.server.monitoring.buckets import bucket_of
from edgekit.server.monitoring.totals import Totals

NOON = datetime(2026, 1, 1, 12, 0, 0)


def _payload(rng: random.Random) -> dict:
    rows = rng.randrange(1, 100)
    counts = [rng.randrange(0, 10) for _ in range(5)]
    return {"counters": {"rows": rows, "histogram_rows": sum(counts) + 1, "rows_with_violations": rng.randrange(0, rows)},
            "features": {"x": {"counts": counts, "missing": 1, "violations": {"missing": rng.randrange(0, 3)}}},
            "predictions": {"kind": "classes", "counts": [rng.randrange(0, 50), rng.randrange(0, 50)]},
            "latency_us": {"buckets": [10.0, 100.0], "counts": [rng.randrange(0, 9), rng.randrange(0, 9), rng.randrange(0, 2)]}}


def _report(rng: random.Random, seconds: int, tags=("a",), release="m/1/onnx.tar", device="dev-1") -> Accepted:
    return Accepted(device, "pi", tags, release, _payload(rng), NOON.replace(minute=seconds // 60, second=seconds % 60))


def _same(first: Totals, second: Totals) -> bool:
    return first.as_json() == second.as_json()


def test_reports_are_summed_per_minute_release_profile_tag_set_and_assignment():
    rng = random.Random(1)
    reports = [_report(rng, 5, ("b", "a")), _report(rng, 59, ("a", "b"), device="dev-2"), _report(rng, 60, ("a", "b")),
               _report(rng, 61, ("a", "b"), device="outsider"), _report(rng, 62, ("a", "b"), release="")]
    groups = summed(reports, lambda report: report.device_id != "outsider", seconds=60)
    at_noon, next_minute = NOON, NOON.replace(minute=1)
    assert groups.keys() == {RollupKey(at_noon, "m/1/onnx.tar", "pi", ("a", "b"), True),
                             RollupKey(next_minute, "m/1/onnx.tar", "pi", ("a", "b"), True),
                             RollupKey(next_minute, "m/1/onnx.tar", "pi", ("a", "b"), False),
                             RollupKey(next_minute, "", "pi", ("a", "b"), False)}  # no release: never assigned
    assert groups[RollupKey(at_noon, "m/1/onnx.tar", "pi", ("a", "b"), True)].reports == 2  # tag order does not split a group
    assert sum(totals.reports for totals in groups.values()) == len(reports)


def test_sums_are_the_same_however_reports_are_batched():
    rng = random.Random(2)
    reports = [_report(rng, 30) for _ in range(200)]
    one_by_one = Totals()
    for report in reports:
        one_by_one.add(report.payload)
    stored = None
    cuts = sorted(rng.sample(range(1, 200), 7))
    for start, end in zip([0, *cuts], [*cuts, 200], strict=True):  # batches of uneven sizes, each added to the stored row
        (batch,) = summed(reports[start:end], lambda _: True, seconds=60).values()
        previous, before = stored, None if stored is None else stored.as_json()
        stored = added(stored, batch)
        assert previous is None or (previous.as_json() == before and stored.reports > previous.reports)  # not changed in place
    stored = stored.as_json()
    assert _same(Totals.from_json(stored), one_by_one)
    assert stored["reports"] == 200 and stored["rows"] == sum(report.payload["counters"]["rows"] for report in reports)
    assert np.array_equal(Totals.from_json(stored).features["x"].counts,
                          np.sum([report.payload["features"]["x"]["counts"] for report in reports], axis=0))


def test_a_stored_row_survives_the_json_round_trip_exactly():
    rng = random.Random(3)
    totals = Totals()
    for _ in range(20):
        totals.add(_payload(rng))
    again = Totals.from_json(totals.as_json())
    assert _same(again, totals) and again.latency_quantile(0.99) == totals.latency_quantile(0.99)
    assert Totals.from_json(Totals().as_json()).as_json() == Totals().as_json()


@pytest.mark.parametrize(("seconds", "start"), [
    (60, datetime(2026, 1, 1, 12, 3)), (1, datetime(2026, 1, 1, 12, 3, 59)), (5, datetime(2026, 1, 1, 12, 3, 55)),
    (45, datetime(2026, 1, 1, 12, 3, 45)), (900, datetime(2026, 1, 1, 12, 0)), (3600, datetime(2026, 1, 1, 12, 0))])
def test_buckets_start_at_a_multiple_of_their_width_from_the_hour(seconds, start):
    assert bucket_of(datetime(2026, 1, 1, 12, 3, 59, 999_999), seconds) == start
    assert bucket_of(start, seconds) == start


def test_every_moment_falls_in_one_bucket_of_each_width_and_finer_buckets_nest_in_coarser():
    rng = random.Random(3)
    widths = [width for width in range(1, 3601) if 3600 % width == 0]
    for _ in range(300):
        moment = NOON + timedelta(microseconds=rng.randrange(0, 7200 * 10**6))
        for width in widths:
            start = bucket_of(moment, width)
            assert start <= moment < start + timedelta(seconds=width)
            assert ((start - start.replace(minute=0, second=0)).total_seconds()) % width == 0
            assert bucket_of(start, 3600) == bucket_of(moment, 3600)  # a bucket never straddles the hour


def test_reports_are_summed_per_bucket_of_the_given_width():
    rng = random.Random(2)
    reports = [_report(rng, 5), _report(rng, 9), _report(rng, 10), _report(rng, 64)]
    by_five = summed(reports, lambda _: True, seconds=5)
    assert {key.minute.time().isoformat(): totals.reports for key, totals in by_five.items()} == {
        "12:00:05": 2, "12:00:10": 1, "12:01:00": 1}
    assert [totals.reports for totals in summed(reports, lambda _: True, seconds=60).values()] == [3, 1]


def test_group_commit_answers_each_item_once_its_batch_is_written():
    written: list[list[int]] = []
    commit = GroupCommit(written.append, "test")

    async def send() -> None:
        await asyncio.gather(*(commit.submit(index) for index in range(500)))

    asyncio.run(send())
    commit.close()
    assert sorted(item for batch in written for item in batch) == list(range(500))
    assert len(written) < 500  # items that waited together were written together


def test_a_failed_batch_fails_every_request_in_it_and_the_next_batch_is_written():
    attempts: list[list[str]] = []

    def write(batch: list[str]) -> None:
        attempts.append(batch)
        if "poison" in batch:
            raise RuntimeError("database down")

    commit = GroupCommit(write, "test")

    async def send(item: str) -> str:
        try:
            await commit.submit(item)
            return "committed"
        except RuntimeError:
            return "refused"

    assert asyncio.run(send("poison")) == "refused"
    assert asyncio.run(send("fine")) == "committed"
    commit.close()
    assert attempts == [["poison"], ["fine"]]
    with pytest.raises(RuntimeError, match="stopped"):
        asyncio.run(commit.submit("late"))


def test_a_batch_summed_at_once_equals_its_reports_added_one_by_one_odd_shapes_left_out_alike():
    rng = random.Random(4)
    payloads = [_payload(rng) for _ in range(30)]
    payloads[7]["features"]["x"]["counts"] = [1, 2, 3]  # another shape than the first seen: left out
    payloads[9]["latency_us"] = {"buckets": [5.0], "counts": [1, 1]}  # other buckets: left out
    payloads[11]["predictions"] = {"kind": "classes", "counts": [1, 2, 3]}
    payloads[12] = {"counters": {"rows": 3}}  # no histograms at all
    one_by_one, at_once = Totals(), Totals()
    for payload in payloads:
        one_by_one.add(payload)
    at_once.add_all(payloads)
    assert _same(at_once, one_by_one)
    later = [_payload(rng) for _ in range(5)]
    for payload in later:
        one_by_one.add(payload)
    at_once.add_all(later)  # onto sums that already hold shapes
    assert _same(at_once, one_by_one)


def test_a_reports_payload_is_exactly_its_json_dump():
    """schemas.TelemetryReport.payload builds the dump from the validated fields (ingest's hot path):
    it must stay equal to pydantic's own, defaults, nested models and all."""
    from edgekit.server.schemas import TelemetryReport

    rng = random.Random(4)
    bodies = [{}, {"release": "m/1/onnx.tar", "period_seconds": 60}] + [_payload(rng) for _ in range(20)]
    bodies[-1]["predictions"]["score_counts"] = [1, 2, 3]
    for body in bodies:
        report = TelemetryReport.model_validate(body)
        assert report.payload() == report.model_dump(mode="json")
