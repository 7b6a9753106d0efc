"""Figures for people, one convention each, so every command prints them alike: bytes in IEC units
(1 KiB = 1024 B, like the device profiles' budgets), durations in ms, s, min and h, counts with a
comma between thousands. JSON output keeps the raw numbers; these are for text only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_BYTE_UNITS = ("KiB", "MiB", "GiB", "TiB")


def size(value: float | None) -> str:
    """``840 B``, ``13.6 KiB``, ``4.51 MiB``: three significant figures from KiB up; ``—`` for unknown."""
    if value is None:
        return "—"
    if abs(value) < 1024:
        return f"{value:.0f} B"
    scaled = float(value)
    for unit in _BYTE_UNITS:
        scaled /= 1024
        if abs(scaled) < 1024 or unit == _BYTE_UNITS[-1]:
            shown = f"{scaled:.3g}"
            return f"{shown if 'e' not in shown else f'{scaled:.0f}'} {unit}"  # 1000-1023 KiB: no exponent
    raise AssertionError("unreachable")


def duration(seconds: float | None) -> str:
    """``350 ms``, ``1.2 s``, ``7 min 38 s``, ``2 h 5 min``; ``—`` for unknown."""
    if seconds is None:
        return "—"
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 59.95:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    whole = round(seconds)
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60} min" if rest // 60 else f"{hours} h"


def count(value: float) -> str:
    """``23,968``: a comma between thousands, no decimals."""
    return f"{value:,.0f}"


def mapping(values: Mapping[str, Any] | Any, separator: str = " ") -> str:
    """``a 1, b 2`` (or ``a=1, b=2`` with ``separator="="``) instead of a Python dict; counts get commas.
    Anything that is not a mapping (an older file's plain value) is shown as it is."""
    if not isinstance(values, Mapping):
        return str(values)
    shown = (count(value) if isinstance(value, int) and not isinstance(value, bool) else str(value) for value in values.values())
    return ", ".join(f"{key}{separator}{value}" for key, value in zip(values, shown, strict=True)) or "none"
