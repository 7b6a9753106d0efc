"""Auto-fit: compile every build a device can run, check each against its profile, keep the best.

Candidates go from the most faithful to the smallest (float ONNX / TFLite, C if-else, inline,
table, compact, then quantized tables). The if-else C is skipped, with the reason, when its estimated
source is past the if-else limit (compile/c/ifelse.py): it would cost minutes and lose to the table
anyway; the inline C likewise past its split-node limit (compile/c/inline.py). On a microcontroller
--prefer speed ranks C builds by the instructions per inference compile counted on the emulated
board, so the inline layout wins there and the compact one under --prefer size. Each one is compiled with its parity certificate (a build outside
tolerance is rejected by compile itself) and checked with every rule. Among the passing ones
``prefer`` picks the smallest flash footprint or the lowest p99 latency. When none passes, the
nearest miss (the smallest overshoot of a budget) is reported.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..artifact import Artifact, check_artifact_output
from ..bundle import ModelBundle
from ..compile.build import compile_bundle
from ..compile.c.backend import code_size_skip_reason
from ..compile.c.toolchains import TOOLCHAINS
from ..errors import BadInput, CheckFailed, MissingTool
from ..storage import move_into_place, staging_directory
from .check import check_facts
from .profiles import DeviceProfile
from .rules import ArtifactFacts, estimated_latency_ms, flash_needed, ram_needed

Prefer = Literal["size", "speed"]


@dataclass(frozen=True)
class Candidate:
    label: str
    target: str
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Attempt:
    candidate: Candidate
    outcome: Literal["chosen", "passed", "rejected", "skipped"]
    reason: str = ""
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    p99_ms: float | None = None
    overshoot: float = float("inf")  # how far past its budgets a rejected build is (nearest miss)
    failed_rules: tuple[str, ...] = ()  # the check rules a built candidate failed (flash, ram, latency, ...)

    def as_dict(self) -> dict[str, Any]:
        return {"candidate": self.candidate.label, "target": self.candidate.target, "options": self.candidate.options,
                "outcome": self.outcome, "reason": self.reason, "flash_bytes": self.flash_bytes,
                "ram_bytes": self.ram_bytes, "p99_ms": self.p99_ms}


@dataclass
class FitResult:
    device: str
    prefer: Prefer
    attempts: list[Attempt]
    chosen: Artifact | None

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device, "prefer": self.prefer, "chosen": str(self.chosen.path) if self.chosen else None,
                "attempts": [attempt.as_dict() for attempt in self.attempts]}


def candidates(profile: DeviceProfile, kind: str) -> list[tuple[Candidate, str | None]]:
    """Every build to try for this device and model kind, with the reason when one cannot be tried."""
    trees = kind == "trees"
    tried: list[tuple[Candidate, str | None]] = []
    if profile.runtimes.onnxruntime:
        tried.append((Candidate("onnx", "onnx"), None))
        if not trees:
            tried.append((Candidate("onnx int8", "onnx-int8"), None))
    if profile.runtimes.litert:
        tried.append((Candidate("tflite", "tflite"), None))
        if not trees:
            tried.append((Candidate("tflite int8", "tflite-int8"), None))
            tried.append((Candidate("tflite int8 per-layer", "tflite-int8", {"per-channel": "false"}), None))
    c_builds = ([Candidate("c ifelse", "c", {"layout": "ifelse"}), Candidate("c inline", "c", {"layout": "inline"}),
                 Candidate("c table", "c", {"layout": "table"}), Candidate("c compact", "c", {"layout": "compact"}),
                 Candidate("c table int16", "c", {"layout": "table", "quantize": "int16"}),
                 Candidate("c table int8", "c", {"layout": "table", "quantize": "int8"})] if trees else
                [Candidate("c", "c"), Candidate("c int8", "c", {"quantize": "int8"})])
    if profile.runtimes.c is not None:
        triple = profile.c_triple()
        why = None if triple in TOOLCHAINS else f"edgekit has no toolchain for {triple}"
        tried += [(candidate, why) for candidate in c_builds]
    return tried


def _measure(attempt: Attempt, artifact: Artifact, profile: DeviceProfile) -> None:
    facts = ArtifactFacts.from_descriptor(artifact.info.model_dump())
    report = check_facts(facts, profile)
    attempt.flash_bytes = flash_needed(facts, profile)[0]  # with the runtime library: what the device pays
    attempt.ram_bytes = ram_needed(facts, profile)[0]
    attempt.p99_ms = estimated_latency_ms(facts, profile)
    failures = [finding for finding in report.findings if finding.verdict == "fail"]
    if not failures:
        attempt.outcome, attempt.reason = "passed", "; ".join(f.reason for f in report.failures()) or "every rule passes"
        return
    attempt.outcome = "rejected"
    attempt.reason = "; ".join(f"{f.rule}: {f.reason}" for f in failures)
    attempt.failed_rules = tuple(f.rule for f in failures)
    # Nearest miss: the build least over its size budgets; any other failure ranks behind.
    sized = all(finding.over_budget > 0 for finding in failures)
    attempt.overshoot = sum(finding.over_budget for finding in failures) if sized else float("inf")


def fit_to_device(
    bundle_path: str | Path,
    profile: DeviceProfile,
    out: str | Path,
    prefer: Prefer = "size",
    on_attempt: Callable[[Attempt, int], None] | None = None,
) -> FitResult:
    """Try every candidate for ``profile``, move the best passing one into ``out``; ``on_attempt``
    hears of each candidate as it is decided, with the number of candidates.

    Raises CheckFailed (``out`` untouched) naming the nearest miss when nothing fits, or the
    MissingTool that kept a candidate from being tried when nothing else fits either.
    """
    if prefer not in ("size", "speed"):
        raise BadInput(f"--prefer {prefer} is not size or speed", "use --prefer size (smallest) or --prefer speed")
    bundle = ModelBundle.load(bundle_path)
    out = Path(out)
    check_artifact_output(out, bundle.info.name)
    kind = "trees" if bundle.info.family_kind == "trees" else "dense"
    attempts: list[Attempt] = []
    missing: MissingTool | None = None
    with staging_directory(out) as scratch:
        built: dict[str, Artifact] = {}
        builds = candidates(profile, kind)
        for candidate, skip in builds:
            if skip is None and candidate.target == "c":  # a huge if-else build would run for many minutes
                skip = code_size_skip_reason(bundle, candidate.options)
            attempt = Attempt(candidate, "skipped", skip or "")
            if skip is None:
                try:
                    artifact = compile_bundle(bundle, candidate.target, scratch / candidate.label.replace(" ", "-"),
                                              options=candidate.options, device=profile)
                except MissingTool as exc:  # cannot be tried here: say what to install
                    attempt.reason, missing = exc.one_line(), exc
                except (BadInput, CheckFailed) as exc:  # parity out of tolerance, too big for the board, ...
                    attempt.outcome, attempt.reason = "rejected", exc.one_line()
                else:
                    built[candidate.label] = artifact
                    _measure(attempt, artifact, profile)
            attempts.append(attempt)
            if on_attempt is not None:
                on_attempt(attempt, len(builds))
        passing = [attempt for attempt in attempts if attempt.outcome == "passed"]
        if not passing and missing is not None:
            raise missing
        if not passing:
            tried = [attempt for attempt in attempts if attempt.outcome == "rejected"]
            if not tried:
                reasons = "; ".join(dict.fromkeys(attempt.reason for attempt in attempts)) or "its profile lists no runtime"
                raise CheckFailed(f"nothing edgekit builds runs on {profile.id}: {reasons}",
                                  "compile --target c for this machine and build the exported src/ with the device's own toolchain")
            nearest = min(tried, key=lambda attempt: attempt.overshoot)
            raise CheckFailed(f"no build fits {profile.id}; nearest miss: {nearest.candidate.label} ({nearest.reason})",
                              "prune or shrink the model (fewer or shallower trees, a smaller network), or pick a bigger device")
        # Ties go to the earlier, more faithful candidate (float before quantized).
        order = {id(attempt): index for index, attempt in enumerate(attempts)}
        if prefer == "size":
            best = min(passing, key=lambda a: (a.flash_bytes or 0, order[id(a)]))
        else:
            best = min(passing, key=lambda a: (a.p99_ms if a.p99_ms is not None else float("inf"), order[id(a)]))
        best.outcome = "chosen"
        move_into_place(built[best.candidate.label].path, out)
        shutil.rmtree(scratch, ignore_errors=True)  # the builds not chosen
    return FitResult(profile.id, prefer, attempts, Artifact.load(out))
