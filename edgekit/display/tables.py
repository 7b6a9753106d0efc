"""Tables for people: identifier columns (ids, names, profiles, releases, features — what a user types
back) stay whole on one line; every other column wraps or folds instead of losing characters to "…"."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

_NARROWEST = 4  # characters a wrapping column keeps when the identifiers take the rest


def people_table(title: str | None = None, **options: Any) -> Table:
    """A compact table (light rules, no outer padding) that leaves the width to the columns."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                 show_edge=False, **options)


def identifier_column(table: Table, header: str, values: Iterable[Any], **options: Any) -> None:
    """A column users copy from: never wrapped, never cut, as wide as its longest value."""
    width = max((len(str(value)) for value in values), default=0)
    table.add_column(header, no_wrap=True, min_width=max(width, len(header)), **options)


def figure_column(table: Table, header: str, **options: Any) -> None:
    """Any other column: it wraps at spaces, and folds a long word rather than cutting it."""
    table.add_column(header, overflow="fold", **options)


def print_table(console: Console, table: Table) -> None:
    """Print ``table``; when its one-line columns cannot fit the terminal, every column is set to what
    it needs (a one-line column its longest cell, the others their longest word) and the table is
    printed wider: the terminal wraps its lines, and nothing is cut."""
    _, right, _, left = table.padding
    padding = (left + right) * len(table.columns) - (0 if table.pad_edge else left + right)
    frame = padding + (len(table.columns) - 1) + (2 if table.show_edge and table.box else 0)
    if sum(_widest(column, column.no_wrap) if column.no_wrap else _NARROWEST for column in table.columns) + frame > console.width:
        for column in table.columns:
            column.min_width = column.max_width = _widest(column, whole_cells=column.no_wrap)
        table.width = sum(column.min_width or 0 for column in table.columns) + frame
    if table.title:  # wrapped at words like any text, even on a console that leaves wrapping to the terminal
        console.print(table.title, soft_wrap=False, style="table.title")
        table.title = None
    console.print(table, crop=False)


def _widest(column: Column, whole_cells: bool) -> int:
    """The width of ``column``'s widest cell (or word, when it may wrap), header included, markup not."""
    texts = [Text.from_markup(cell) if isinstance(cell, str) else Text(str(cell)) for cell in (column.header, *column.cells)]
    pieces = [text.plain for text in texts] if whole_cells else [word for text in texts for word in text.plain.split()]
    return max((cell_len(piece) for piece in pieces), default=0)
