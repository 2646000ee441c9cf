"""Test support for accounting: a site config, and a SimulatedWell read at simulated times into a
real signed store (values pass through the profile's register encoding, as acquisition sees them).
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from store_support import stored

from gateway.accounting.service import AccountingRoom
from gateway.config import StoreSection, load_config
from gateway.profiles import ModbusPoint
from gateway.readings import QUALITY_GOOD, QUALITY_INVALID, Reading
from gateway.simulator import SimulatedWell
from gateway.simulator.encoding import decode_modbus, encode_modbus
from gateway.store import StoreSink, create_key

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2025-06-01 00:00 in Ordos (UTC+8): simulated time 0.
START = datetime(2025, 6, 1, tzinfo=SHANGHAI).timestamp()

SITE = """\
[well]
id = "150602-0042"
timezone = "Asia/Shanghai"

[gateway]
runtime_dir = "{runtime}"
state_dir = "{state}"

[[buses]]
name = "rs485-1"
type = "rtu"
port = "{port}"
timeout = 0.2
retries = 0

[[devices]]
name = "flow-meter"
bus = "rs485-1"
model = "tuf-2000m"
slave_id = 1
poll_interval = {poll}

[[devices]]
name = "pump-energy"
bus = "rs485-1"
model = "chint-dtsu666"
slave_id = 2
poll_interval = {poll}

[[devices]]
name = "well-level"
bus = "rs485-1"
model = "qdy30a"
slave_id = 3
poll_interval = {poll}

[well.accounting]
pump_capacity_m3h = 60
rated_power_kw = 7.5
interval_s = {interval}

[well.accounting.head]
sensor_depth_m = 80
outlet_height_m = 2
friction_head_m = 3
model = "head_ratio"
"""

# The simulated well's k at its resting head (30 + 2 + 3 = 35 m, η = 0.45): 367.1 × 0.45 / 35.
COEFFICIENT = """
[[well.accounting.coefficients]]
version = 1
value_m3_per_kwh = {k}
valid_from = 2025-01-01T00:00:00+08:00
method = "calibration"
source = "test: the simulator's k at {head} m"
calibration_head_m = {head}
"""

POINTS = {
    "flow-meter": ("flow_rate", "forward_total", "error_code"),
    "pump-energy": ("active_power", "import_energy"),
    "well-level": ("decimal_point", "level"),
}


def write_site(folder: Path, extra: str = "", port: str = "/dev/ttyUSB0", poll: float = 10.0,
               interval: int = 900, coefficient: tuple[float, float] | None = (4.72, 35.0),
               name: str = "site.toml") -> Path:
    """A site config file in `folder` (state in folder/state); returns its path."""
    text = SITE.format(runtime=folder, state=folder / "state", port=port, poll=poll,
                       interval=interval)
    if coefficient is not None:
        text += COEFFICIENT.format(k=coefficient[0], head=coefficient[1])
    path = folder / name
    path.write_text(text + textwrap.dedent(extra), encoding="utf-8")
    return path


def site(folder: Path, extra: str = "", **options: Any):
    return load_config(write_site(folder, extra, **options))


class SimulatedFeed:
    """Reads a SimulatedWell's meters at simulated times and commits them to the real store."""

    def __init__(self, config: Any, seed: int = 1, points: dict[str, tuple[str, ...]] = POINTS,
                 start: float = START, commit_every_s: float = 600.0, **well_params: float):
        self.config = config
        self.state_dir = Path(config.gateway.state_dir)
        if not (self.state_dir / "gateway.key").exists():
            create_key(self.state_dir)
        self.sink = StoreSink(self.state_dir, StoreSection(commit_interval=3600,
                                                           commit_max=10_000))
        self.well = SimulatedWell.from_config(config, seed=seed, time_scale=0, **well_params)
        self.points = points
        self.start = start
        self.commit_every_s = commit_every_s
        self.t = 0.0
        self._profiles = {d.name: {p.name: p for p in config.device_profile(d).points}
                          for d in config.devices}

    def readings(self) -> list[Reading]:
        """Every chosen point of every device now, decoded as the gateway would decode it."""
        wall = self.start + self.t
        out = []
        for device, names in self.points.items():
            meter = self.well.meter(device)
            values = self.well.values(device)
            for name in names:
                point = self._profiles[device][name]
                value, quality = values[name], QUALITY_GOOD
                if isinstance(point, ModbusPoint) and point.type != "string":
                    words = encode_modbus(point, value, meter.decimals_for(point))
                    value = decode_modbus(point, words, meter.decimals_for(point))
                if isinstance(value, float) and value != value:
                    value, quality = None, QUALITY_INVALID
                out.append(Reading(device, name, value, point.unit, (), wall, self.t, quality,
                                   point.kind))
        return out

    def run(self, seconds: float, every: float = 10.0, room: AccountingRoom | None = None,
            skip: set[str] | None = None) -> None:
        """Advance `seconds` of simulated time, reading every `every` s; commit every
        commit_every_s and let the room account what was committed."""
        end = self.t + seconds
        since_commit = 0.0
        while self.t < end - 1e-9:
            self.well.advance(every)
            self.t += every
            batch = self.readings()
            if skip:
                batch = [r for r in batch if r.device not in skip]
            self.sink.accept(batch)
            since_commit += every
            if since_commit >= self.commit_every_s:
                since_commit = 0.0
                self.commit(room)
        self.commit(room)

    def commit(self, room: AccountingRoom | None = None) -> None:
        assert self.sink.flush(30)
        if room is not None:
            room.step()
            assert self.sink.flush(30)

    def close(self) -> None:
        self.sink.close()




def alarms(state_dir: Path) -> list[tuple[str, str, str, float]]:
    """(alarm, device, raised/cleared, time) of every accounting alarm record."""
    return [(r.point, r.device, r.value, r.wall_time) for r in stored(state_dir, "alarm")
            if r.device != "store"]
