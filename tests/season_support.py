"""Test support for a pumping season against the pump-curve well: the physics read into records
fed to the accounting engine (no store: fast), and calibrations made from the same physics."""

from __future__ import annotations

from dataclasses import dataclass, replace

from accounting_support import START, write_site

from gateway.accounting.calibration import (
    CalibrationParams,
    CalibrationResult,
    CalibrationSample,
    combine_runs,
    evaluate_run,
)
from gateway.accounting.engine import AccountingEngine
from gateway.accounting.plan import build_plan
from gateway.config import load_config
from gateway.simulator.physics import WellParams, WellPhysics
from gateway.simulator.pump_curve import PumpCurve
from gateway.store.records import Record

HOUR, DAY = 3600.0, 86_400.0
# The accounting's head: depth to water + outlet 2 m + outlet pressure 3 m (what an installer
# knows); the riser's friction, the pump's curve and its efficiency it is not told.
OUTLET_M, PRESSURE_M = 2.0, 3.0
# Pumping 4 h, resting 2 h; 10 s integration steps keep a season to seconds.
SEASON_WELL = WellParams(curve=PumpCurve(outlet_pressure_m=PRESSURE_M), outlet_height_m=OUTLET_M,
                         friction_head_m=0.0, static_depth_m=52.0, on_seconds=4 * HOUR,
                         off_seconds=2 * HOUR, step_s=10.0)


def season_config(folder, extra: str, model: str = "fit"):
    """The test site (80 m sensor, outlet 2 m, pressure 3 m) with an 11 kW pump, this head
    model and `extra`."""
    path = write_site(folder, extra, coefficient=None)
    text = path.read_text(encoding="utf-8").replace("rated_power_kw = 7.5",
                                                    "rated_power_kw = 11")
    text = text.replace('model = "head_ratio"', f'model = "{model}"')
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def calibrate_at(static_m: float, runs: int = 2, seed: int = 7) -> CalibrationResult:
    """率定 as in the field at one water level: the pump runs 2 h to a steady level, then
    `runs` runs of one hour, samples every 10 s, the head from the level sensor."""
    return combine_runs(calibration_runs(static_m, runs, seed), CalibrationParams(
        min_duration_s=1800))


def calibration_runs(static_m: float, runs: int = 2, seed: int = 7) -> list[CalibrationResult]:
    """The accepted runs of calibrate_at, each on its own."""
    physics = WellPhysics(replace(SEASON_WELL, static_depth_m=static_m), seed=seed)
    physics.set_pump(True, 0.0)
    params = CalibrationParams(min_duration_s=1800)
    results = []
    for run in range(runs):
        samples, t = [], 2 * HOUR + run * HOUR
        while t <= 3 * HOUR + run * HOUR + 1e-9:
            snap = physics.at(t)
            head = snap.depth_to_water_m + OUTLET_M + PRESSURE_M
            samples.append(CalibrationSample(t, snap.volume_m3, snap.energy_kwh, head,
                                             snap.power_kw))
            t += 10.0
        results.append(evaluate_run(samples, params))
    return results


def coefficient_toml(version: int, result: CalibrationResult, valid_from: str) -> str:
    return f"""
[[well.accounting.coefficients]]
version = {version}
value_m3_per_kwh = {result.k_m3_per_kwh!r}
valid_from = {valid_from}
method = "calibration"
source = "test: calibrated against the pump-curve well"
calibration_head_m = {result.calibration_head_m!r}
uncertainty_m3_per_kwh = {result.expanded_uncertainty!r}
"""


@dataclass
class Season:
    """What the pump-curve well truly did, and the records read from it, reading by reading."""

    records: list[Record]
    times: list[float]  # each reading instant, unix time
    volumes: list[float]  # the true pumped volume then, m³
    heads: list[float]  # the pump's true head then, m
    ks: list[float]  # its true k then, m³/kWh (0 while stopped)

    def true_volume(self, start: float, end: float) -> float:
        """Pumped between the readings at start and at end."""
        return self.volumes[self.times.index(end)] - self.volumes[self.times.index(start)]


def pump_season(days: float, fall_m: float, every: float = 60.0, seed: int = 3) -> Season:
    """The static level falls linearly by fall_m over `days`; energy, power and level read
    every `every` s (the flow meter too), as decoded readings."""
    physics = WellPhysics(SEASON_WELL, seed=seed)
    start_depth = SEASON_WELL.static_depth_m
    records: list[Record] = []
    season = Season(records, [], [], [], [])
    t, seq, end, next_change = 0.0, 0, days * DAY, HOUR
    while t <= end + 1e-9:
        if t >= next_change:  # the water table falls a little every hour
            physics.change(t, {"static_depth_m": start_depth + fall_m * t / end})
            next_change += HOUR
        snap = physics.at(t)
        wall = START + t
        for device, point, value, unit in (
                ("pump-energy", "import_energy", snap.energy_kwh, "kWh"),
                ("pump-energy", "active_power", snap.power_kw, "kW"),
                ("well-level", "level", snap.level_m, "m"),
                ("flow-meter", "forward_total", snap.volume_m3, "m³")):
            seq += 1
            records.append(Record(seq, "reading", device, point, value, unit, "good", [], wall,
                                  t, 1, None, None, None))
        season.times.append(wall)
        season.volumes.append(snap.volume_m3)
        season.heads.append(snap.head_m)
        season.ks.append(snap.coefficient_m3_per_kwh if snap.pump_on else 0.0)
        t += every
    return season


def account(config, season: Season, head_model: str | None = None) -> list:
    """Every record the engine makes from the season (head model as configured unless given)."""
    plan = build_plan(config)
    if head_model is not None:
        plan = replace(plan, head_model=head_model)
    engine = AccountingEngine(plan)
    made = []
    for record in season.records:
        engine.process(record)
        made += engine.take_group()
    engine.close_partial()
    return made + engine.take_group()


def derived(made: list, start: float, end: float) -> tuple[float, float]:
    """(m³ derived, its start, end) of the derived records whose energy lies in (start, end]."""
    chosen = [r for r in made if r.kind == "volume" and r.point == "derived"
              and start < r.data["end"] <= end]
    return sum(r.value for r in chosen), max(r.data["end"] for r in chosen)
