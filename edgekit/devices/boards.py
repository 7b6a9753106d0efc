"""A build for a named device that does not fit it: refused (its --out untouched), naming the
smallest device profile in device_configs/ whose flash and RAM budgets would take it, or saying
that none would."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..artifact import Artifact, check_artifact_output
from ..bundle import ModelBundle
from ..compile.build import compile_bundle
from ..compile.c.toolchains import TOOLCHAINS
from ..errors import CheckFailed
from ..storage import move_into_place, staging_directory
from .profiles import DeviceProfile, all_profiles
from .rules import ArtifactFacts, Finding, flash, ram

SIZE_RULES = (flash, ram)


def size_failures(facts: ArtifactFacts, profile: DeviceProfile) -> list[Finding]:
    """The flash and RAM findings that fail: what makes a build too big for ``profile``."""
    return [finding for rule in SIZE_RULES if (finding := rule(facts, profile)).verdict == "fail"]


def _runs_it(facts: ArtifactFacts, profile: DeviceProfile) -> bool:
    if facts.runtime == "c":  # a C build is rebuilt for the board's triple: edgekit must have its toolchain
        return profile.runtimes.c is not None and profile.c_triple() in TOOLCHAINS
    return getattr(profile.runtimes, facts.runtime, None) is not None


def smallest_fitting(facts: ArtifactFacts, profiles: list[DeviceProfile]) -> DeviceProfile | None:
    """The profile with the smallest flash (then RAM) budget that runs this kind of build and whose
    size budgets take it (judged on this build's measured footprint), or None."""
    fitting = [profile for profile in profiles if _runs_it(facts, profile) and not size_failures(facts, profile)]
    return min(fitting, key=lambda profile: (profile.budgets.artifact_bytes, profile.budgets.ram_bytes, profile.id), default=None)


def refuse_if_too_big(artifact: Artifact, profile: DeviceProfile, profiles: list[DeviceProfile] | None = None) -> None:
    """Raise CheckFailed (exit 1, as auto-fit's "no build fits") when ``artifact`` is over ``profile``'s
    flash or RAM budget; the hint names the board it needs."""
    facts = ArtifactFacts.from_descriptor(artifact.info.model_dump())
    failures = size_failures(facts, profile)
    if not failures:
        return
    why = "; ".join(f"{finding.rule} {finding.reason}" for finding in failures)
    bigger = smallest_fitting(facts, [other for other in profiles or all_profiles() if other.id != profile.id])
    needs = (f"the smallest board that fits it is {bigger.id} ({bigger.name}): compile with --device {bigger.id}"
             if bigger is not None else "no device profile in device_configs/ fits it")
    raise CheckFailed(f"this build is too big for {profile.id} ({why}); {needs}",
                      f"shrink it: --device {profile.id} --target auto tries every smaller build, or prune the model")


def compile_for_device(bundle_path: str | Path, target: str, out: str | Path, options: dict[str, str],
                       profile: DeviceProfile) -> Artifact:
    """compile_bundle for ``profile``, moved into ``out`` only if it fits the board's size budgets."""
    bundle = ModelBundle.load(bundle_path)
    out = Path(out)
    check_artifact_output(out, bundle.info.name)
    with staging_directory(out) as scratch:
        artifact = compile_bundle(bundle, target, scratch / "build", options=options, device=profile)
        refuse_if_too_big(artifact, profile)
        move_into_place(artifact.path, out)
        shutil.rmtree(scratch, ignore_errors=True)
    return Artifact.load(out)
