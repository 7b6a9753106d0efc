"""Where a rollup's time bucket starts: ingest/ sums reports into buckets of ``rollup_seconds`` and
the monitor reads its windows in the same buckets, so both take the bucket from here."""

from __future__ import annotations

from datetime import datetime, timedelta


def bucket_of(moment: datetime, seconds: int) -> datetime:
    """The start of the ``seconds``-wide bucket holding ``moment``. Buckets are counted from the
    hour (``seconds`` divides 3600: settings.py checks it), so every process agrees on where they
    start and a finer width's buckets nest in a coarser one's."""
    hour = moment.replace(minute=0, second=0, microsecond=0)
    into = moment.minute * 60 + moment.second
    return hour + timedelta(seconds=into - into % seconds)
