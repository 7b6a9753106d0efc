"""What the application on the device calls: ``current_model(state_dir)`` returns the installed,
verified model and picks up the agent's switches without a restart; ``report_unhealthy`` tells
the agent, during a new model's probation, to switch back from that model (the report names it)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from .atomic import write_atomically
from .errors import InvalidInput
from .loader import LoadedModel, load

RECHECK_SECONDS = 1.0  # how often the current pointer is looked at again (and telemetry written)
TELEMETRY_DIR = "telemetry"
_lock = threading.Lock()
_cache: dict[str, tuple[float, str, LoadedModel]] = {}


def current_model(state_dir: str | Path, threads: int = 1) -> LoadedModel:
    """The model the agent installed, loaded and verified once per switch (cached per state dir)."""
    key = str(Path(state_dir).resolve())
    now = time.monotonic()
    with _lock:
        cached = _cache.get(key)
        if cached is not None and now - cached[0] < RECHECK_SECONDS:
            return cached[2]
        if cached is not None:
            try:
                _write_telemetry(Path(key), cached[2])
            except (OSError, ValueError):
                pass  # telemetry is a side channel: a full or read-only disk must not stop predictions
        if not (Path(key) / "current").exists():
            raise InvalidInput(f"{state_dir}: no model is installed yet", "run edgekit-runtime agent once (or agent run)")
        target = os.path.realpath(Path(key) / "current")
        if cached is not None and cached[1] == target:
            _cache[key] = (now, target, cached[2])
            return cached[2]
        model = load(target, threads)  # hashes verified on every (re)load; raises if nothing is installed
        _cache[key] = (now, target, model)
        return model


def report_unhealthy(state_dir: str | Path, reason: str) -> None:
    """Ask the agent to switch back from the model this process runs (honoured during its probation).
    The report names that model (the one current_model gave this process, else the one installed
    now), so an agent switching meanwhile, or killed while switching, never holds it against another."""
    key = str(Path(state_dir).resolve())
    with _lock:
        cached = _cache.get(key)
    slot = cached[2].directory if cached is not None else Path(key) / "current"
    try:
        marker = json.loads((Path(slot) / ".edgekit-target.json").read_text())
        about = {"target": str(marker["path"]), "sha256": str(marker["sha256"])}
    except (OSError, ValueError, KeyError, TypeError):
        about = {}  # nothing installed (or a damaged marker): the agent takes it as about its current model
    write_atomically(Path(state_dir) / "unhealthy", json.dumps({"reason": reason[:500], **about}))


def flush_telemetry(state_dir: str | Path) -> None:
    """Write this process's counters for the agent to report now (current_model does it each second)."""
    key = str(Path(state_dir).resolve())
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            try:
                _write_telemetry(Path(key), cached[2])
            except (OSError, ValueError):
                pass


def _write_telemetry(state_dir: Path, model: LoadedModel) -> None:
    """This process's cumulative counters for the model it runs: one small file per process and
    release, which the agent turns into deltas and reports (nothing raw is written)."""
    marker = model.directory / ".edgekit-target.json"
    if model.monitor is None or not marker.is_file():
        return
    target = json.loads(marker.read_text())
    directory = state_dir / TELEMETRY_DIR
    directory.mkdir(exist_ok=True)
    document = {"release": target["path"], "pid": os.getpid(), "instance": id(model), "written": time.time(),
                "report": model.input_report()}
    # one file per loaded model: a reload (or a reused pid after a reboot) starts a new file, not a reset
    write_atomically(directory / f"{os.getpid()}-{id(model):x}-{target['sha256'][:16]}.json", json.dumps(document))
