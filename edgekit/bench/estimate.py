"""Turning an emulated instruction count into a device latency: instructions x the profile's
cycles per instruction / its clock. Always labelled as an estimate, with how it was made."""

from __future__ import annotations

from typing import Any

from ..devices.profiles import DeviceProfile
from .emulated import EmulatedRun


def latency_from_count(run: EmulatedRun, profile: DeviceProfile) -> dict[str, Any]:
    """{"p99_ms", "mean_us", "how", "estimate": True}: the figure the latency rule reads."""
    cpi = profile.cost_model.cycles_per_instruction
    micros = run.instructions_per_inference * cpi / profile.cpu.mhz
    how = (f"estimate: {run.instructions_per_inference:,.0f} instructions per inference counted under {run.emulator} "
           f"(mean of {run.rows} reference rows) x {cpi:g} cycles per instruction / {profile.cpu.mhz:g} MHz")
    if run.rebuilt:
        how += f"; {run.library}"
    # The count is a mean over the reference rows. Dense layers and padded tree tables run the same
    # instructions for every row; unpadded trees vary with the path, which a mean understates.
    short = f"{run.emulator.split()[0]} count x CPI {cpi:g} / {profile.cpu.mhz:g} MHz"
    return {"p99_ms": micros / 1000.0, "mean_us": micros, "how": how, "short": short, "estimate": True}
