"""DATA for the Dask engine: a directory of Parquet files (or a glob of them) opened as a Dask
DataFrame, one partition per file (partition i is file i), read partition by partition; one clear error per way it fails."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.files import PARQUET_SUFFIXES
from ..errors import BadInput

_MAGIC = b"PAR1"
_SUFFIXES = (*PARQUET_SUFFIXES, ".parq")


@dataclass(frozen=True)
class ParquetData:
    source: str  # DATA as given
    name: str  # a short name for bundles trained on it
    files: tuple[str, ...]  # sorted: the partition order
    columns: tuple[str, ...]
    dtypes: dict[str, str]
    decoded_bytes: int | None = None  # set once a pass has read every partition

    def frame(self, columns: list[str] | None = None) -> Any:
        """The Dask DataFrame over these files (built again wherever it is needed: graphs are cheap)."""
        import dask.dataframe as dd

        return dd.read_parquet(list(self.files), columns=columns, split_row_groups=False)

    def read_partition(self, index: int) -> Any:
        """Partition ``index`` (file ``index``) as a pandas DataFrame, read here by the same reader
        (a graph over that one file: one over every file would read every file's footer each time)."""
        import dask.dataframe as dd

        return dd.read_parquet(self.files[index], split_row_groups=False).compute(scheduler="sync")


def parquet_files(source: str) -> list[Path]:
    hint = "pass a directory of .parquet files or a glob such as 'data/*.parquet'"
    if any(char in source for char in "*?["):
        files = sorted(Path(match) for match in glob.glob(source) if Path(match).is_file())
        if not files:
            raise BadInput(f"{source}: no files match", hint)
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise BadInput(f"{source}: no such file or directory", hint)
        if path.is_dir():
            files = sorted(child for child in path.rglob("*") if child.is_file() and child.suffix.lower() in _SUFFIXES)
            if not files:
                raise BadInput(f"{source}: holds no Parquet files (.parquet, .pq, .parq)", hint)
        else:
            files = [path]
    for file in files:
        _check_parquet(file)
    return files


def _check_parquet(file: Path) -> None:
    with open(file, "rb") as handle:
        head = handle.read(4)
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(size - 4, 0))
        tail = handle.read(4)
    if head != _MAGIC or tail != _MAGIC:
        kind = "a CSV file" if file.suffix.lower() == ".csv" else "not a Parquet file"
        raise BadInput(f"{file}: {kind}; the Dask engine reads Parquet only",
                       "convert it to Parquet (pandas: frame.to_parquet), or train it with --engine local")


def open_parquet(source: str) -> ParquetData:
    files = parquet_files(source)
    import dask.dataframe as dd

    try:
        meta = dd.read_parquet([str(file) for file in files])._meta
    except (ValueError, OSError) as exc:
        detail = " ".join(str(exc).split())[-200:]
        raise BadInput(f"{source}: not a readable Parquet dataset ({detail})",
                       "give every file the same columns and types, or re-export them") from exc
    columns = tuple(str(column) for column in meta.columns)
    duplicated = sorted({column for column in columns if columns.count(column) > 1})
    if duplicated:
        raise BadInput(f"{source}: duplicate column names {duplicated}", "give every column a unique name")
    path = Path(source.split("*")[0].rstrip("/") or ".")
    name = path.stem if path.suffix else path.name
    return ParquetData(source, name or "parquet", tuple(str(file) for file in files), columns,
                       {column: str(dtype) for column, dtype in meta.dtypes.items()})
