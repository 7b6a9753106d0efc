"""``edgekit pipeline watch``: wait for drift alerts on the pipeline's model and retrain on fresh
data, at most once per ``watch.min_interval_seconds``.

What it has acted on lives in ``<workdir>/watch-state.json`` (the alert ids it has seen and when it
last ran), so a restarted watcher does not retrain twice for the same alert. Alerts that were open
when a run started count as handled by that run; a later alert starts the next run.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit_runtime.atomic import write_atomically

from ..errors import BadInput, CheckFailed, EdgekitError
from .config import PipelineConfig
from .run import PipelineRun, Step, run_pipeline

STATE_FILE = "watch-state.json"
COMMAND_TIMEOUT_SECONDS = 3600


def fresh_data(config: PipelineConfig, directory: Path) -> str:
    """The DATA source of a retraining run: the configured one, or the file the command writes."""
    watch = config.watch
    if watch.fresh_data is not None:
        return watch.fresh_data
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / "fresh.csv"
    command = [part.replace("{out}", str(out)) for part in shlex.split(watch.fresh_command)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CheckFailed(f"fresh_command failed to run: {exc}", "fix watch.fresh_command in the pipeline file") from exc
    if done.returncode != 0 or not out.is_file():
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise CheckFailed(f"fresh_command exited {done.returncode} without writing {out.name}: {tail}",
                          "fix watch.fresh_command in the pipeline file")
    return str(out)


class Watcher:
    def __init__(self, config: PipelineConfig, client: Any, say: Callable[[str], None], on_step: Callable[[Step], None],
                 clock: Callable[[], float] = time.time) -> None:
        if config.watch is None:
            raise BadInput("the pipeline has no watch: section", "add watch: {fresh_data: ..., min_interval_seconds: 3600}")
        self.config, self.client, self.say, self.on_step, self.clock = config, client, say, on_step, clock
        self.state_path = config.workdir / STATE_FILE
        self.state = self._load_state()

    def _load_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {}
        except (OSError, ValueError):
            state = {}  # a damaged state file costs at most one extra run
        if state.get("server") != self.config.server:  # alert ids are one server's: another server starts afresh
            state = {}
        return {"server": self.config.server, "seen": list(state.get("seen", [])), "last_run": float(state.get("last_run", 0.0))}

    def _save_state(self) -> None:
        self.config.workdir.mkdir(parents=True, exist_ok=True)
        write_atomically(self.state_path, json.dumps(self.state))

    def check_once(self) -> PipelineRun | None:
        """Look at the open alerts once; run the pipeline when a new one is there and the interval allows."""
        alerts = self.client.request("GET", "/v1/admin/alerts", params={"model": self.config.model, "state": "open"})
        new = [alert for alert in alerts if alert["id"] not in set(self.state["seen"])]
        if not new:
            return None
        wait = self.state["last_run"] + self.config.watch.min_interval_seconds - self.clock()
        if wait > 0:
            self.say(f"{len(new)} new drift alert(s); the next run is allowed in {wait:.0f} s")
            return None
        features = sorted({f"{alert['feature']} ({alert['cohort']})" for alert in new})
        self.say(f"drift on {self.config.model}: {', '.join(features)} — retraining on fresh data")
        data = fresh_data(self.config, self.config.workdir / "fresh")  # fails: the alerts stay new, the next poll retries
        self.state = {"server": self.config.server, "seen": sorted({*self.state["seen"], *(alert["id"] for alert in alerts)}),
                      "last_run": self.clock()}
        self._save_state()  # before the run: a crash mid-run must not retrain again for the same alerts
        return run_pipeline(self.config, self.client, data, self.on_step)

    def watch(self, once: bool, max_seconds: float | None) -> list[PipelineRun]:
        """Poll until stopped (or, with ``once``, until one run is done; ``max_seconds`` bounds the wait)."""
        runs: list[PipelineRun] = []
        started = time.monotonic()
        while True:
            try:
                run = self.check_once()
            except EdgekitError as exc:
                if once:
                    raise
                self.say(f"{exc.one_line()}; trying again in {self.config.watch.poll_seconds:g} s")
                run = None
            if run is not None:
                runs.append(run)
                if once:
                    return runs
            if max_seconds is not None and time.monotonic() - started >= max_seconds:
                return runs
            time.sleep(self.config.watch.poll_seconds)
