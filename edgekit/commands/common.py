"""What every command shares: the consoles, the common options, and how a result is printed."""

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ..errors import BadInput

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
HomeOption = Annotated[Path, typer.Option("--home", help="The server's home directory.")]
ServerOption = Annotated[str, typer.Option("--server", envvar="EDGEKIT_SERVER", show_default=False,
                                          help="The server's URL, e.g. http://127.0.0.1:8080; set EDGEKIT_SERVER to leave it out.")]
KeyOption = Annotated[str | None, typer.Option("--admin-key", help="Admin API key (default: $EDGEKIT_ADMIN_KEY).")]


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def report(as_json: bool, document: Any, show: Callable[[], None]) -> None:
    """Every reporting command's ending: the document as JSON, or ``show`` for people."""
    if as_json:
        emit_json(document)
    else:
        show()


def emit(as_json: bool, document: Any, text: str) -> None:
    """``report`` for results people read as one line of text."""
    report(as_json, document, lambda: stdout.print(text))


def parse_pairs(pairs: list[str], flag: str, example: str) -> dict[str, str]:
    """Repeatable KEY=VALUE options (--param, --option) as a mapping."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"{flag} {pair!r} is not KEY=VALUE", example)
        parsed[key.strip()] = value.strip()
    return parsed


def examples(*commands: str) -> str:
    """A command's --help ending: "Examples:" and one command a line (Rich keeps single line breaks
    in an epilog, so each example stays on its own line)."""
    return "Examples:\n" + "\n".join(f"  {command}" for command in commands)
