"""How edgekit's objects show themselves in a notebook: small escaped HTML tables (``_repr_html_``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape


def html_facts(title: str, facts: Iterable[tuple[str, object]]) -> str:
    """A title over two columns: what, and its value."""
    rows = "".join(f"<tr><th style='text-align:left'>{escape(str(name))}</th><td style='text-align:left'>{escape(str(value))}</td></tr>"
                   for name, value in facts)
    return f"<div><strong>{escape(title)}</strong><table>{rows}</table></div>"


def html_table(title: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(str(name))}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{escape('-' if cell is None else str(cell))}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<div><strong>{escape(title)}</strong><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
