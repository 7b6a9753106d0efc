"""One update cycle: refresh the signed metadata, evaluate the rollout rule for this device,
download and verify the release, unpack it into a new slot, smoke-test it, switch, report.

The device never installs what TUF did not verify, never leaves the current model for one that
fails its smoke test, and remembers a release it refused (or rolled back from) so the next cycle
does not install it again; a different release, or the same one published again, is tried anew.
A probation record and the application's unhealthy report each name their release, and only ever
judge the release `current` points to, whatever step a crash interrupted (STEPS).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata, TargetFile
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from ..archive import unpack
from ..atomic import write_atomically
from ..errors import RuntimeFailure
from ..loader import load
from ..manifest import verify_directory
from ..rollout_rule import DeviceIdentity, choose_release
from ..smoke import REFERENCE_FILE, smoke_test
from .config import AgentConfig
from .fetcher import DeadlineFetcher
from .server_api import DeviceApi, ServerUnavailable
from .state import StateDir
from .telemetry_report import mark_sent, pending_reports

# What an attacker or a broken mirror causes (as opposed to a network that is simply down).
ATTACKS = (tuf_errors.RepositoryError, tuf_errors.DownloadLengthMismatchError, tuf_errors.SlowRetrievalError)
SLOT_MARKER = ".edgekit-target.json"  # in each slot: the TUF target it holds
REFUSED_FILE = "refused.json"
PROBATION_FILE = "probation.json"
ATTEMPT_FILE = "smoke-attempt.json"  # present only while a smoke test runs
UNHEALTHY_FILE = "unhealthy"
UNHEALTHY_DEFAULT = "the application reported the model unhealthy"

# The switch and a rollback, step by step. Each record is made durable before the step it guards, so a
# SIGKILL leaves the device in one of these states, which the next cycle resolves:
#   probation-recorded  probation.json names the incoming release, `current` still the old one: the record
#                       judges nothing (it is dropped) and the cycle installs again
#   switched            `current` is the new release, which probation.json names: on probation, as if done
#   refused             refused.json names the unhealthy release, still current: the report is acted on again
#   rolled-back         `current` is the previous release; probation.json names the refused one: dropped
STEPS = ("probation-recorded", "switched", "refused", "rolled-back")
PAUSE_AT = "EDGEKIT_AGENT_TEST_PAUSE_AT"  # a test hook only: the agent stops at this step, for a SIGKILL to land there


@dataclass(frozen=True)
class CycleResult:
    outcome: str  # unchanged, installed, rejected, failed, offline, rolled_back
    target: str | None
    detail: str = ""
    from_target: str | None = None  # rolled_back: the release it switched away from

    def as_report(self) -> dict[str, Any]:
        report = {"outcome": self.outcome, "target": self.target, "detail": self.detail[:2000]}
        return {**report, "from_target": self.from_target} if self.from_target else report


class Agent:
    def __init__(self, state: StateDir, config: AgentConfig | None = None, fetcher: FetcherInterface | None = None,
                 api: DeviceApi | None = None) -> None:
        self.state = state
        self.config = config = config or AgentConfig()
        self.identity = state.identity()
        self.fetcher = fetcher or DeadlineFetcher(config, credentials=(f"{self.identity.server}/targets/", state.token()))
        self.api = api or DeviceApi(self.identity.server, config, state.token())

    # --- what is installed ---------------------------------------------------------------------
    def current_target(self) -> str | None:
        slot = self.state.pointer("current")
        return _slot_target(slot).get("path") if slot is not None else None

    def current_sha256(self) -> str | None:
        slot = self.state.pointer("current")
        return _slot_target(slot).get("sha256") if slot is not None else None

    def current_release(self) -> tuple[str | None, str | None]:
        """(target path, sha256) of the slot `current` points to: what a probation record must name."""
        slot = self.state.pointer("current")
        marker = _slot_target(slot) if slot is not None else {}
        return marker.get("path"), marker.get("sha256")

    def _refused(self) -> dict[str, str]:
        path = self.state.root / REFUSED_FILE
        try:
            return json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, json.JSONDecodeError):
            return {}  # a damaged list: at worst a refused release is tried (and refused) again

    def _refuse(self, target: str, sha256: str) -> None:
        self.state.record(REFUSED_FILE, {**self._refused(), target: sha256})

    # --- the cycle -----------------------------------------------------------------------------
    def once(self) -> CycleResult:
        """One cycle, reported to the server when something happened (never raises for the
        network, the server or a refused update: the current model keeps serving)."""
        self.state.recover()
        try:
            result = self.crashed_smoke_test() or self.check_probation() or self.repair() or self._update()
        finally:
            self.state.clear_incoming()  # the archive is unpacked (or refused): nothing to keep
        if result.outcome != "offline":
            self.report(result)
        return result

    def report(self, result: CycleResult) -> None:
        """Status (and the app's telemetry) to the server; a failure waits for the next cycle."""
        try:
            self.api.report_status(self.identity.device_id, self.current_target(), result.as_report())
            self.send_telemetry()
        except (ServerUnavailable, RuntimeFailure, OSError):
            pass  # the next cycle reports again

    def on_probation(self) -> bool:
        """A probation record names the running release (one a crash or a rollback left behind does not count)."""
        record = _record(self.state.root / PROBATION_FILE, "until")
        return bool(record) and (record["target"], record["sha256"]) == self.current_release()

    def send_telemetry(self) -> int:
        """Report the application's counters since the last report; returns how many were sent."""
        sent = 0
        for name, payload in pending_reports(self.state.root, self.config.max_telemetry_bytes):
            try:
                self.api.report_telemetry(self.identity.device_id, payload)
            except RuntimeFailure as exc:
                if isinstance(exc, ServerUnavailable):
                    raise
                # refused (e.g. counters of a release the server no longer has this device on): drop them
            mark_sent(self.state.root, name)
            sent += 1
        return sent

    def _update(self) -> CycleResult:
        try:
            updater = Updater(str(self.state.tuf), f"{self.identity.server}/metadata/", str(self.state.incoming),
                              f"{self.identity.server}/targets/", self.fetcher, self._tuf_config(),
                              bootstrap=self.state.trusted_root())
            updater.refresh()
        except ATTACKS as exc:
            return CycleResult("rejected", None, f"metadata refused: {exc.__class__.__name__}: {exc}")
        except tuf_errors.DownloadError as exc:
            return CycleResult("offline", None, f"metadata unavailable: {exc.__class__.__name__}: {exc}")
        except OSError as exc:  # the metadata cache cannot be written (disk full)
            return CycleResult("failed", None, f"cannot store metadata: {exc.strerror or exc}")
        signed_targets = Metadata.from_file(str(self.state.tuf / "targets.json")).signed.targets  # verified by refresh
        device = DeviceIdentity(self.identity.device_id, self.identity.profile, frozenset(self.identity.tags), self._pin_tag())
        refused = self._refused()
        chosen = choose_release(((path, target.custom) for path, target in signed_targets.items()
                                 if refused.get(path) != target.hashes.get("sha256")), self.identity.model, device)
        current = self.current_target()
        if chosen is None or chosen == current:
            return CycleResult("unchanged", current, "no release assigned" if chosen is None else "")
        if signed_targets[chosen].hashes.get("sha256") == self.current_sha256():  # the same build released again
            on_probation = self.on_probation()
            slot = self.state.pointer("current")
            write_atomically(slot / SLOT_MARKER, json.dumps({**_slot_target(slot), "path": chosen}))
            if on_probation:  # the build's probation goes on under its new name (a crash in between ends it early)
                self.state.record(PROBATION_FILE, {**_record(self.state.root / PROBATION_FILE, "until"), "target": chosen})
            return CycleResult("unchanged", chosen, "the same build, released under a new number")
        return self._install(updater, chosen)

    def _pin_tag(self) -> str | None:
        """The device's pin tag; one enrolled before pin tags asks the server once (offline: next cycle)."""
        if self.identity.pin_tag is None:
            try:
                tag = self.api.own_record(self.identity.device_id).get("pin_tag")
                if isinstance(tag, str) and tag:
                    self.identity = self.state.learn_pin_tag(tag)
            except (RuntimeFailure, OSError, AttributeError):
                pass  # an older server has no pin tags: its pins name device ids, which still match
        return self.identity.pin_tag

    def _install(self, updater: Updater, chosen: str) -> CycleResult:
        info = None
        try:
            info = updater.get_targetinfo(chosen)
            if info is None:
                return CycleResult("rejected", chosen, "the target vanished from the signed metadata")
            if info.length > self.config.max_artifact_bytes:
                return CycleResult("rejected", chosen, f"{info.length} bytes is over the agent's limit")
            sha256 = info.hashes["sha256"]
            slot = self.state.slot(sha256)
            if slot.is_dir() and not _verifies(slot):  # a kept slot damaged on disk: fetch it again
                shutil.rmtree(slot, ignore_errors=True)
            if not (slot / SLOT_MARKER).is_file():
                data = self._download(info, chosen)  # length and hash verified against the signed metadata
                unpacked = self.state.incoming / sha256
                unpack(data, unpacked, max_bytes=self.config.max_unpacked_bytes, max_members=self.config.max_artifact_members)
                write_atomically(unpacked / SLOT_MARKER, json.dumps({"path": chosen, "sha256": sha256, "custom": info.custom}))
                shutil.rmtree(slot, ignore_errors=True)
                unpacked.rename(slot)
        except ATTACKS as exc:  # the bytes are not what was signed: try again next cycle, from any mirror
            return CycleResult("rejected", chosen, f"{exc.__class__.__name__}: {exc}")
        except tuf_errors.DownloadError as exc:
            return CycleResult("offline", chosen, f"download failed: {exc.__class__.__name__}: {exc}")
        except RuntimeFailure as exc:  # what was signed is not a valid artifact: never install it
            self._refuse(chosen, info.hashes.get("sha256", "") if info is not None else "")
            return CycleResult("rejected", chosen, f"{exc.__class__.__name__}: {exc}")
        except OSError as exc:  # disk full, permissions: nothing was switched
            self.state.clear_incoming()
            return CycleResult("failed", chosen, f"cannot store the release: {exc.strerror or exc}")
        attempt = self.state.root / ATTEMPT_FILE
        previous_try = _record(attempt)
        tries = previous_try.get("attempts", 0) if previous_try.get("sha256") == sha256 else 0
        # a native crash leaves this behind; a second one on the same build refuses it (one may be a power cut)
        write_atomically(attempt, json.dumps({"target": chosen, "sha256": sha256, "attempts": tries + 1}))
        problem = self.smoke(slot, info.custom)
        attempt.unlink(missing_ok=True)
        if problem:
            self._refuse(chosen, sha256)
            return CycleResult("failed", chosen, f"smoke test: {problem}")
        # an unhealthy report on disk is about the release being replaced (or too old to say which)
        (self.state.root / UNHEALTHY_FILE).unlink(missing_ok=True)
        self.state.record(PROBATION_FILE, {"target": chosen, "sha256": sha256, "until": time.time() + self.config.probation_seconds})
        _pause("probation-recorded")
        self.state.switch(slot)
        _pause("switched")
        self.state.prune()
        return CycleResult("installed", chosen)

    def _download(self, info: TargetFile, path: str) -> bytes:
        """The target's bytes, resuming a download an earlier cycle left in ``partial/`` (HTTP Range),
        never reading past the signed length, then checked against the signed length and hashes.
        A resume that fails a check is tried once more from byte 0 before anything is reported:
        the kept beginning may be what was wrong (bytes an attacker sent an earlier cycle)."""
        sha256 = info.hashes["sha256"]
        part = self.state.partial / f"{sha256}.part"
        for stale in self.state.partial.glob("*.part"):  # another release's leftovers
            if stale != part:
                stale.unlink(missing_ok=True)
        have = part.stat().st_size if part.is_file() else 0
        directory, _, name = path.rpartition("/")
        url = f"{self.identity.server}/targets/{directory + '/' if directory else ''}{sha256}.{name}"
        if not 0 < have < info.length:
            return self._fetch_checked(info, path, url, part, 0)
        try:
            return self._fetch_checked(info, path, url, part, have)
        except (tuf_errors.DownloadLengthMismatchError, tuf_errors.LengthOrHashMismatchError):
            return self._fetch_checked(info, path, url, part, 0)

    def _fetch_checked(self, info: TargetFile, path: str, url: str, part: Path, offset: int) -> bytes:
        """``part``'s first ``offset`` bytes and the rest from the server, checked; a download that fails
        a length or hash check is deleted (never resumed), one cut off is kept for the next cycle."""
        fetch_from = getattr(self.fetcher, "fetch_from", None)
        start, chunks = fetch_from(url, offset) if fetch_from and offset else (0, self.fetcher.fetch(url))
        try:
            with part.open("r+b" if start else "wb") as out:
                out.seek(start)
                out.truncate()
                written = start
                for chunk in chunks:
                    written += len(chunk)
                    if written > info.length:
                        raise tuf_errors.DownloadLengthMismatchError(f"{path}: more than the signed {info.length} bytes")
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            data = part.read_bytes()
            info.verify_length_and_hashes(data)
        except (tuf_errors.DownloadLengthMismatchError, tuf_errors.LengthOrHashMismatchError):
            part.unlink(missing_ok=True)
            raise
        part.unlink(missing_ok=True)  # verified and in memory: a crash from here on downloads again
        return data

    def smoke(self, slot: Path, custom: dict[str, Any] | None) -> str:
        """'' when the slot loads, reproduces its certified outputs here and is not absurdly slow.
        An unexpected crash (not a verdict about the model) is retried once before it counts:
        a refused release is remembered, so a transient failure must not refuse a good one."""
        for attempt in (1, 2):
            try:
                return self._smoke_once(slot, custom)
            except RuntimeFailure as exc:
                return exc.one_line()
            except Exception as exc:  # noqa: BLE001 - a runtime crashing on a new model must not take the agent down
                if attempt == 2:
                    return f"{exc.__class__.__name__}: {exc}"
        return ""

    def _smoke_once(self, slot: Path, custom: dict[str, Any] | None) -> str:
        smoke_test(slot)
        model = load(slot)
        with np.load(slot / REFERENCE_FILE, allow_pickle=False) as archive:
            row = archive["X"][:1]
        model.predict(row)
        started = time.perf_counter()
        model.predict(row)
        elapsed_ms = (time.perf_counter() - started) * 1000
        budget = ((custom or {}).get("edgekit", {}).get("latency_budget_ms") or {}).get(self.identity.profile)
        if budget and elapsed_ms > self.config.latency_sanity_factor * float(budget):
            return f"one row took {elapsed_ms:.1f} ms; the profile's budget is {budget} ms"
        return ""

    def crashed_smoke_test(self) -> CycleResult | None:
        """The process died twice inside the smoke test of one build (a runtime that segfaults or runs
        out of memory on it): refuse that build, or every restart would crash on it again."""
        attempt = self.state.root / ATTEMPT_FILE
        record = _record(attempt)
        if record.get("attempts", 0) < 2:  # none, or one death (maybe a power cut): try again
            return None
        attempt.unlink(missing_ok=True)
        self._refuse(str(record["target"]), str(record["sha256"]))
        return CycleResult("failed", record["target"], "smoke test: the agent died while running it twice (a crash or out of memory)")

    def repair(self) -> CycleResult | None:
        """A current slot whose files no longer match its manifest (bit rot, a stray write) is not
        run: switch back to the previous slot if that one verifies, else drop the pointer so this
        cycle installs the assigned release afresh."""
        current = self.state.pointer("current")
        if current is None or _verifies(current):
            return None
        broken = _slot_target(current).get("path") or current.name
        previous = self.state.pointer("previous")
        if previous is not None and _verifies(previous):
            self.state.roll_back()  # first the pointer, then the files: a crash in between leaves a sound current
            shutil.rmtree(current, ignore_errors=True)
            return CycleResult("rolled_back", _slot_target(previous).get("path"), f"the slot of {broken} is corrupted on disk",
                               from_target=broken)
        (self.state.root / "current").unlink(missing_ok=True)
        shutil.rmtree(current, ignore_errors=True)
        return None  # nothing sound to run: the update below reinstalls

    def check_probation(self) -> CycleResult | None:
        """Within the probation after a switch, the application's unhealthy report about the release on
        probation switches back and refuses that release. A record of a release that is not current
        (a crash before the switch, or after a rollback) and a report about another release are dropped."""
        probation, unhealthy = self.state.root / PROBATION_FILE, self.state.root / UNHEALTHY_FILE
        record = _record(probation, "until")
        release = (record.get("target"), record.get("sha256"))
        if not record or release != self.current_release():
            probation.unlink(missing_ok=True)
            return None
        if not isinstance(record["until"], int | float) or time.time() > record["until"]:  # over (or unreadable)
            probation.unlink(missing_ok=True)
            unhealthy.unlink(missing_ok=True)
            return None
        report = self._unhealthy_report()
        if report is None:
            return None
        reason, about = report
        if about is not None and about != record["sha256"]:  # the app judged the model it ran before this one
            unhealthy.unlink(missing_ok=True)
            return None
        target = record["target"]
        if self.state.pointer("previous") is None:  # a first install has nothing to go back to: keep serving, say so
            probation.unlink(missing_ok=True)
            unhealthy.unlink(missing_ok=True)
            return CycleResult("failed", target, f"reported unhealthy ({reason}) but there is no previous model; still running it")
        self._refuse(target, record["sha256"])  # the verdict before the switch back: a crash between repeats both
        _pause("refused")
        restored = self.state.roll_back()
        _pause("rolled-back")
        probation.unlink(missing_ok=True)
        unhealthy.unlink(missing_ok=True)
        return CycleResult("rolled_back", _slot_target(restored).get("path"), f"{target} rolled back: {reason}", from_target=target)

    def _unhealthy_report(self) -> tuple[str, str | None] | None:
        """The application's report: its reason and the sha256 of the model it is about; None for
        "the current one" (the plain-text file applications wrote before reports named their model)."""
        try:
            text = (self.state.root / UNHEALTHY_FILE).read_text(errors="replace")
        except OSError:
            return None
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if isinstance(document, dict) and "reason" in document:
            about = document.get("sha256")
            return str(document["reason"])[:500] or UNHEALTHY_DEFAULT, about if isinstance(about, str) else None
        return text[:500] or UNHEALTHY_DEFAULT, None

    def _tuf_config(self) -> UpdaterConfig:
        return UpdaterConfig(targets_max_length=self.config.max_metadata_bytes, snapshot_max_length=self.config.max_metadata_bytes,
                             app_user_agent=f"edgekit-agent/{self.identity.device_id}")


def _record(path: Path, *keys: str) -> dict[str, Any]:
    """A JSON record naming a release ({"target", "sha256", *keys}); {} when missing or damaged."""
    try:
        record = json.loads(path.read_text()) if path.is_file() else {}
        return record if isinstance(record, dict) and {"target", "sha256", *keys} <= record.keys() else {}
    except (OSError, ValueError):
        return {}


def _pause(step: str) -> None:
    """The test hook of STEPS: with PAUSE_AT set to ``step``, say so on stderr and wait for the test's SIGKILL."""
    if os.environ.get(PAUSE_AT) == step:
        print(f"edgekit-agent: paused at {step}", file=sys.stderr, flush=True)
        time.sleep(3600)


def _verifies(slot: Path) -> bool:
    try:
        verify_directory(slot)
        return bool(_slot_target(slot))
    except RuntimeFailure:
        return False


def _slot_target(slot: Path) -> dict[str, Any]:
    """The slot's marker ({"path", "sha256", ...}); {} when missing or damaged (the slot then does not verify)."""
    try:
        marker = json.loads((slot / SLOT_MARKER).read_text())
        return marker if isinstance(marker, dict) and isinstance(marker.get("path"), str) else {}
    except (OSError, ValueError):
        return {}


