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


def as_table(data: object) -> Table:
    """DATA given in Python: a DATA string or path, a DataFrame, a 2-D array, or an (X, y) pair.

    Columns without names are called f0, f1, … (XGBoost's names for them); the y of a pair becomes
    the label column (its Series name, or "label").
    """
    import os

    import numpy as np
    import pandas as pd

    if isinstance(data, str | os.PathLike):
        return load_table(os.fspath(data))
    if isinstance(data, pd.DataFrame):
        return Table(data, "a DataFrame", "dataframe", None)
    if isinstance(data, tuple) and len(data) == 2:
        features = _frame(data[0])
        target = pd.Series(np.asarray(data[1])) if not isinstance(data[1], pd.Series) else data[1].reset_index(drop=True)
        name = str(target.name) if target.name is not None and str(target.name) not in features.columns else "label"
        if name in features.columns:
            raise BadInput("the (X, y) pair's X already has a column named 'label'", "pass a DataFrame and label= instead")
        if len(target) != len(features):
            raise BadInput(f"X has {len(features)} rows but y has {len(target)}", "pass an X and y of the same length")
        return Table(features.assign(**{name: target.to_numpy()}), "an (X, y) pair", "arrays", name)
    if hasattr(data, "shape"):
        return Table(_frame(data), "an array", "arrays", None)
    raise BadInput(f"cannot read data from a {type(data).__name__}",
                   "pass a path, a pandas DataFrame, a 2-D NumPy array or an (X, y) pair")


def _frame(values: object) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    if isinstance(values, pd.DataFrame):
        return values.reset_index(drop=True)
    array = np.asarray(values)
    if array.ndim != 2:
        raise BadInput(f"X must be 2-D (rows x features); got an array of shape {array.shape}", "reshape it to (rows, features)")
    return pd.DataFrame(array, columns=[f"f{index}" for index in range(array.shape[1])])
