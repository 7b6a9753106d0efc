"""The Dask engine's statistics without a cluster: the split, the fingerprint and the merged
quantile summaries are functions of the rows, not of how they are cut into partitions."""

import numpy as np
import pandas as pd

from edgekit.distributed import sketch
from edgekit.distributed.rows import assign, row_hashes
from edgekit.distributed.stats import merge, partition_stats


def _rows(count: int = 20_000) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({"a": rng.lognormal(size=count), "b": rng.integers(0, 50, count).astype(float),
                         "site": rng.choice(["x", "y", None], size=count), "label": rng.integers(0, 2, count)})


def _stats(frame: pd.DataFrame, cuts: list[int]):
    edges = [0, *cuts, len(frame)]
    return merge([partition_stats(frame.iloc[lo:hi].reset_index(drop=True), "label", 0) for lo, hi in zip(edges, edges[1:])])


def test_split_and_fingerprint_ignore_how_rows_are_cut_into_partitions():
    frame = _rows()
    whole, cut = _stats(frame, []), _stats(frame, [1234, 9000, 15555])
    assert whole.fingerprint == cut.fingerprint and whole.rows == cut.rows == len(frame)
    assert whole.label.counts == cut.label.counts  # the same rows in train, validation and test
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    assert _stats(shuffled, [7000]).fingerprint == whole.fingerprint  # order-free
    changed = frame.copy()
    changed.loc[17, "a"] += 1e-9
    assert _stats(changed, []).fingerprint != whole.fingerprint  # one value differs: another fingerprint


def test_the_split_is_seeded_and_near_seventy_fifteen_fifteen():
    hashes = row_hashes(_rows())
    part, uniform = assign(hashes, 0)
    shares = np.bincount(part, minlength=3) / len(part)
    assert np.allclose(shares, [0.70, 0.15, 0.15], atol=0.01)
    assert (assign(hashes, 1)[0] != part).mean() > 0.3 and 0.49 < uniform.mean() < 0.51


def test_the_reader_s_dtype_choice_does_not_move_a_row():
    frame = _rows()
    other = frame.astype({"label": "int8", "site": "string[pyarrow]"})
    assert (row_hashes(frame) == row_hashes(other)).all()


def test_merged_quantiles_stay_within_their_stated_rank_error():
    values = np.random.default_rng(2).lognormal(size=400_000)
    summaries = [sketch.summarize(part) for part in np.array_split(values, 200)]
    while len(summaries) > 1:
        summaries = [sketch.merge(summaries[i:i + 8]) for i in range(0, len(summaries), 8)]
    merged = summaries[0]
    ranks = np.linspace(0.01, 0.99, 99)
    true_ranks = np.searchsorted(np.sort(values), sketch.quantiles(merged, ranks)) / values.size
    assert merged.count == values.size and merged.levels == 3
    assert np.abs(true_ranks - ranks).max() <= merged.rank_error


def test_exact_statistics_are_exact():
    frame = _rows()
    stats = _stats(frame, [5000, 10000])
    a, b = stats.features["a"], stats.features["b"]
    assert (a.minimum, a.maximum) == (frame.a.min(), frame.a.max()) and b.integer and not a.integer
    assert stats.features["site"].missing == frame.site.isna().sum()
    assert stats.features["site"].categories == {"x", "y"}
