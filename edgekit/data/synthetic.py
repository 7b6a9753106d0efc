"""``synthetic:sensors``: seeded machine-sensor data with a failure label, and knobs for drift.

Written as ``synthetic:sensors?rows=5000&seed=0&drift=0&concept=0&missing=0.01``:

- ``drift``   covariate shift: hotter ambient air, heavier load, older machines, more vibration
              (0 = the training distribution, 1 = a clearly shifted plant);
- ``concept`` concept drift in [0, 1]: failures follow temperature more and vibration less;
- ``missing`` the fraction of readings each sensor drops (NaN), as real sensors do;
- ``offset``  a miscalibrated temperature sensor: it reads this many °C too high (failures follow
              the true temperature), so only ``temperature_c`` moves;
- ``regime``  the share of machines in a new operating regime: run near full load (load_pct
              around 95), which moves load, current, speed and temperature together.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import BadInput

LABEL = "failure"
MACHINE_TYPES = ("compressor", "conveyor", "fan", "pump")
_TYPE_SHARE = (0.2, 0.2, 0.25, 0.35)
_TYPE_RPM = np.array([2950.0, 600.0, 1450.0, 1780.0])
_TYPE_RISK = np.array([0.4, -0.3, -0.5, 0.2])


class SensorKnobs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: int = Field(5000, ge=1, le=10_000_000)
    seed: int = Field(0, ge=0)
    drift: float = Field(0.0, ge=0.0, le=10.0)
    concept: float = Field(0.0, ge=0.0, le=1.0)
    missing: float = Field(0.01, ge=0.0, lt=1.0)
    offset: float = Field(0.0, ge=-50.0, le=50.0)
    regime: float = Field(0.0, ge=0.0, le=1.0)


def parse_knobs(query: str) -> SensorKnobs:
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
    try:
        return SensorKnobs(**dict(pairs))
    except ValidationError as exc:
        first = exc.errors()[0]
        knob = ".".join(str(part) for part in first["loc"]) or "?"
        known = ", ".join(SensorKnobs.model_fields)
        raise BadInput(
            f"synthetic:sensors: knob '{knob}': {first['msg']}", f"knobs are {known}, e.g. synthetic:sensors?rows=2000&drift=0.5"
        ) from exc


def generate_sensors(knobs: SensorKnobs) -> pd.DataFrame:
    rng = np.random.default_rng(knobs.seed)
    n, drift = knobs.rows, knobs.drift
    kind = rng.choice(len(MACHINE_TYPES), size=n, p=_TYPE_SHARE)
    runtime_hours = rng.uniform(0, 20_000, n) + 5_000 * drift
    wear = runtime_hours / 20_000 + rng.normal(0, 0.15, n)
    load_pct = np.clip(rng.normal(65 + 10 * drift, 15, n), 5, 110)
    if knobs.regime > 0:  # drawn apart (not from rng): the other readings stay those of regime=0
        regime_rng = np.random.default_rng([knobs.seed, 1])
        heavy = regime_rng.random(n) < knobs.regime
        load_pct = np.where(heavy, np.clip(regime_rng.normal(95, 6, n), 5, 110), load_pct)
    ambient_c = rng.normal(22 + 5 * drift, 5, n)
    humidity_pct = np.clip(rng.normal(50, 12, n), 5, 100)
    rpm = _TYPE_RPM[kind] * (1 + rng.normal(0, 0.02, n)) * (0.9 + 0.1 * load_pct / 100)
    current_a = 4 + 0.12 * load_pct + 1.5 * np.maximum(wear, 0) + rng.normal(0, 0.6, n)
    voltage_v = rng.normal(400, 4, n)
    temperature_c = ambient_c + 0.4 * load_pct + 8 * np.maximum(wear, 0) + rng.normal(0, 2.5, n)
    vibration_rms = np.exp(rng.normal(0.6, 0.3, n)) * (1 + 1.2 * np.maximum(wear, 0) ** 2) * (1 + 0.3 * drift)
    vibration_peak = vibration_rms * (1.4 + np.abs(rng.normal(0, 0.3, n)))
    pressure_bar = rng.normal(6.0, 0.5, n) - 0.8 * np.maximum(wear - 0.7, 0)

    vibration_term = 1.3 * (vibration_rms - 4.0)
    temperature_term = 0.15 * (temperature_c - 60.0)
    logit = (
        (1 - knobs.concept) * vibration_term
        + (0.4 + 1.6 * knobs.concept) * temperature_term
        + 0.35 * (current_a - 13.0)
        + 1.2 * wear
        + _TYPE_RISK[kind]
        - 2.2
    )
    failure = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")

    frame = pd.DataFrame(
        {
            "machine_type": pd.Series(np.asarray(MACHINE_TYPES, dtype=object)[kind], dtype="object"),
            "runtime_hours": np.round(runtime_hours, 1),
            "load_pct": np.round(load_pct, 2),
            "ambient_c": np.round(ambient_c, 2),
            "humidity_pct": np.round(humidity_pct, 1),
            "rpm": np.round(rpm, 1),
            "current_a": np.round(current_a, 3),
            "voltage_v": np.round(voltage_v, 2),
            "temperature_c": np.round(temperature_c + knobs.offset, 2),
            "vibration_rms": np.round(vibration_rms, 4),
            "vibration_peak": np.round(vibration_peak, 4),
            "pressure_bar": np.round(pressure_bar, 3),
        }
    )
    if knobs.missing > 0:
        sensors = [column for column in frame.columns if column != "machine_type"]
        dropped = rng.random((n, len(sensors))) < knobs.missing
        values = frame[sensors].to_numpy(dtype="float64", copy=True)
        values[dropped] = np.nan
        frame[sensors] = values
    frame[LABEL] = failure
    return frame
