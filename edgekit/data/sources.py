"""Turning a DATA argument into a table: a file path, ``bundled:NAME`` or ``synthetic:sensors?…``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadInput
from . import bundled

if TYPE_CHECKING:
    import pandas as pd

SYNTHETIC_GENERATORS = ("sensors",)


@dataclass(frozen=True)
class Table:
    """Raw rows as read, before a label is chosen."""

    frame: pd.DataFrame
    source: str  # the DATA argument as given
    name: str  # a short name for bundles trained on it
    default_label: str | None  # the label column the source defines, if any


def load_table(source: str) -> Table:
    if source.startswith("bundled:"):
        name = source.removeprefix("bundled:")
        return Table(bundled.load_bundled(name), source, name, bundled.LABEL)
    if source.startswith("synthetic:"):
        from . import synthetic

        generator, _, query = source.removeprefix("synthetic:").partition("?")
        if generator not in SYNTHETIC_GENERATORS:
            raise BadInput(
                f"unknown synthetic generator '{generator}'", f"choose one of: {', '.join(SYNTHETIC_GENERATORS)}"
            )
        frame = synthetic.generate_sensors(synthetic.parse_knobs(query))
        return Table(frame, source, generator, synthetic.LABEL)
    from .files import read_table_file

    path = Path(source).expanduser()
    return Table(read_table_file(path), source, path.stem, None)


def data_sources_help() -> str:
    names = ", ".join(f"bundled:{name}" for name in bundled.bundled_names())
    return f"a .csv or .parquet path, {names}, or synthetic:sensors[?rows=N&seed=S&drift=D&concept=C&missing=M]"
