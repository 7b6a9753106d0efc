"""``edgekit-runtime``: the device-side command line (argparse: the runtime carries no CLI framework)."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from ._version import __version__
from .errors import InvalidInput, RuntimeFailure
from .manifest import verify_directory

# `agent once`: what a cycle's outcome exits with (a script or a systemd unit can act on it); 2 is
# every command's bad input (not enrolled, bad arguments).
AGENT_EXIT_CODES = {"installed": 0, "unchanged": 0, "rejected": 1, "failed": 1, "rolled_back": 1, "offline": 3}
AGENT_ONCE_EPILOG = """exit codes:
  0  installed, or nothing to do (unchanged)
  1  the update was rejected (not what was signed), failed (smoke test, disk) or rolled back
  2  bad input: the device is not enrolled, bad arguments
  3  offline: the server is unreachable (the current model keeps serving)"""


def _verify(args: argparse.Namespace) -> int:
    descriptor = verify_directory(args.directory)
    kind = "artifact" if "target" in descriptor else "bundle"
    summary = {"ok": True, "kind": kind, "directory": args.directory, "files": len(descriptor["files"])}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"ok: {args.directory} ({kind}, {summary['files']} files verified)")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .loader import load

    model = load(args.artifact, threads=args.threads)
    if args.input is None:  # real time: JSON lines on stdin, answers on stdout
        from .serving.stream import serve_lines

        counts = serve_lines(model, sys.stdin.buffer, sys.stdout)
        if counts["errors"]:
            print(f"edgekit-runtime: {counts['errors']} of {counts['answered']} lines were refused (see their error field)",
                  file=sys.stderr)
        return 0
    from .serving.batch import predict_file, summary

    result = predict_file(model, Path(args.input), Path(args.output) if args.output else None)
    if args.json:
        print(json.dumps(summary(result, model)), file=sys.stderr if args.output is None else sys.stdout)
    if result.rejected:
        raise InvalidInput(
            f"{result.rejected} of {result.rows} rows were refused ({result.first_error})",
            "their prediction is empty and the reason is in the error column; the other rows were predicted",
        )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .loader import load
    from .serving.rest import Limits, PredictionServer

    model = load(args.artifact, threads=args.threads)
    try:
        server = PredictionServer(model, args.host, args.port, Limits(args.max_body_bytes, args.max_rows))
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {args.host}:{args.port} ({exc.strerror})", "choose another --port") from exc
    print(f"edgekit-runtime: serving {args.artifact} on {server.url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _bench(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from .benchmark import benchmark
    from .loader import load
    from .smoke import REFERENCE_FILE

    started = time.perf_counter()
    model = load(args.artifact, threads=args.threads)
    load_seconds = time.perf_counter() - started
    with np.load(Path(args.artifact) / REFERENCE_FILE, allow_pickle=False) as archive:
        rows = archive["X"]
    result = benchmark(model, rows, args.runs, args.warmup, args.batch, checked=not args.no_input_checks)
    result.update(load_seconds=load_seconds, threads=args.threads, runtime=model.runtime)
    if args.json:
        print(json.dumps(result))
    else:
        single = result["single_row_us"]
        print(f"{args.artifact}: one row p50 {single['p50']:.2f} us, p99 {single['p99']:.2f} us; "
              f"{result['batch']['rows_per_second']:.0f} rows/s in batches of {args.batch}; "
              f"peak RSS {result['peak_rss_bytes'] / 2**20:.1f} MiB")
    return 0


def _agent_enroll(args: argparse.Namespace) -> int:
    from .agent.config import AgentConfig
    from .agent.server_api import DeviceApi
    from .agent.state import Identity, StateDir

    state = StateDir(args.state_dir)
    if (state.root / "identity.json").exists():
        raise InvalidInput(f"{args.state_dir}: a device is already enrolled here", "choose another --state-dir")
    api = DeviceApi(args.server, AgentConfig())
    trusted_root = Path(args.root).read_bytes() if args.root else api.trusted_root()
    enrolled = api.enroll(args.token, args.profile, args.tag or [], args.model)
    identity = Identity(enrolled["device_id"], args.server.rstrip("/"), enrolled["profile"], args.model, tuple(enrolled["tags"]),
                        enrolled.get("pin_tag"))
    state.save_identity(identity, enrolled["device_token"], trusted_root)
    summary = {"device_id": identity.device_id, "profile": identity.profile, "model": identity.model, "state_dir": args.state_dir}
    print(json.dumps(summary) if args.json else f"enrolled {identity.device_id} ({identity.profile}) following {identity.model}")
    return 0


def _agent_cycle(args: argparse.Namespace) -> int:
    from .agent.config import AgentConfig
    from .agent.loop import run_forever
    from .agent.state import StateDir
    from .agent.update import Agent

    config = AgentConfig(poll_seconds=args.poll_seconds) if args.command_name == "run" else AgentConfig()
    agent = Agent(StateDir(args.state_dir), config)

    outcomes = []

    def show(result) -> None:
        outcomes.append(result.outcome)
        line = json.dumps(result.as_report()) if args.json else f"{result.outcome}: {result.target or '-'} {result.detail}".strip()
        print(line, flush=True)

    run_forever(agent, show, cycles=1 if args.command_name == "once" else None)
    return AGENT_EXIT_CODES.get(outcomes[-1], 1) if outcomes else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgekit-runtime", description="edgekit's device-side runtime.")
    parser.add_argument("--version", action="version", version=f"edgekit-runtime {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="check every file of a bundle or artifact against its manifest")
    verify.add_argument("directory")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(handler=_verify)

    predict = commands.add_parser("predict", help="predictions for a file of rows, or for JSON lines on stdin")
    predict.add_argument("artifact")
    predict.add_argument("--input", help="rows.csv (with a header naming the features) or rows.parquet; "
                         "without it, read one JSON row per line on stdin and answer one JSON line each")
    predict.add_argument("--output", help="predictions CSV (default: stdout)")
    predict.add_argument("--threads", type=int, default=1)
    predict.add_argument("--json", action="store_true", help="print a summary with the input-violation counters")
    predict.set_defaults(handler=_predict)

    serve = commands.add_parser("serve", help="a local REST endpoint: POST /v1/predict")
    serve.add_argument("artifact")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1: apps on this device only")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed on start)")
    serve.add_argument("--threads", type=int, default=1)
    serve.add_argument("--max-body-bytes", type=int, default=1 << 20)
    serve.add_argument("--max-rows", type=int, default=10_000)
    serve.set_defaults(handler=_serve)

    bench = commands.add_parser("bench", help="time the artifact here on its reference rows")
    bench.add_argument("artifact")
    bench.add_argument("--runs", type=int, default=2000, help="timed single-row calls")
    bench.add_argument("--warmup", type=int, default=200)
    bench.add_argument("--batch", type=int, default=1000, help="rows per call for the throughput figure")
    bench.add_argument("--threads", type=int, default=1)
    bench.add_argument("--no-input-checks", action="store_true", help="time the runtime alone")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(handler=_bench)

    agent = commands.add_parser("agent", help="the OTA agent: enroll, then keep the right model installed")
    agent_commands = agent.add_subparsers(dest="agent_command", required=True)
    enroll = agent_commands.add_parser("enroll", help="enroll this device and store its identity and trusted root")
    enroll.add_argument("--server", required=True)
    enroll.add_argument("--token", required=True, help="the enrollment token")
    enroll.add_argument("--profile", help="this device's profile id (if the token does not name one)")
    enroll.add_argument("--model", required=True, help="the model name this device runs")
    enroll.add_argument("--tag", action="append", help="a device tag (repeatable)")
    enroll.add_argument("--root", help="the trusted root metadata file (default: the server's 1.root.json, trusted on first use)")
    enroll.add_argument("--state-dir", required=True)
    enroll.add_argument("--json", action="store_true")
    enroll.set_defaults(handler=_agent_enroll)
    for name, text in (("once", "one update cycle"), ("run", "update cycles forever (jittered interval, backoff)")):
        cycle = agent_commands.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}.",
                                          epilog=AGENT_ONCE_EPILOG if name == "once" else None,
                                          formatter_class=argparse.RawDescriptionHelpFormatter)
        cycle.add_argument("--state-dir", required=True)
        cycle.add_argument("--poll-seconds", type=float, default=600.0)
        cycle.add_argument("--json", action="store_true")
        cycle.set_defaults(handler=_agent_cycle, command_name=name)
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
