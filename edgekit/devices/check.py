"""Run every compatibility rule for an artifact on each device and combine the findings."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .profiles import DeviceProfile
from .rules import RULES, SEVERITY, ArtifactFacts, Finding, Verdict


@dataclass(frozen=True)
class DeviceReport:
    device: str
    name: str
    verdict: Verdict
    findings: list[Finding]

    def failures(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.verdict != "pass"]

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device, "name": self.name, "verdict": self.verdict,
                "findings": [asdict(finding) for finding in self.findings]}


def check_facts(facts: ArtifactFacts, profile: DeviceProfile) -> DeviceReport:
    findings = [finding for rule in RULES.values() if (finding := rule(facts, profile)) is not None]
    verdict = max((finding.verdict for finding in findings), key=SEVERITY.__getitem__, default="pass")
    return DeviceReport(profile.id, profile.name, verdict, findings)


def check_descriptor(descriptor: dict[str, Any], profiles: list[DeviceProfile]) -> list[DeviceReport]:
    facts = ArtifactFacts.from_descriptor(descriptor)
    return [check_facts(facts, profile) for profile in profiles]
