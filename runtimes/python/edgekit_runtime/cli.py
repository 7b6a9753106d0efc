"""``edgekit-runtime``: the device-side command line (argparse: the runtime carries no CLI framework)."""

from __future__ import annotations

import argparse
import json
import sys
import traceback

from ._version import __version__
from .errors import RuntimeFailure
from .manifest import verify_directory


def _verify(args: argparse.Namespace) -> int:
    descriptor = verify_directory(args.directory)
    kind = "artifact" if "target" in descriptor else "bundle"
    summary = {"ok": True, "kind": kind, "directory": args.directory, "files": len(descriptor["files"])}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"ok: {args.directory} ({kind}, {summary['files']} files verified)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgekit-runtime", description="edgekit's device-side runtime.")
    parser.add_argument("--version", action="version", version=f"edgekit-runtime {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="check every file of a bundle or artifact against its manifest")
    verify.add_argument("directory")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(handler=_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except RuntimeFailure as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
