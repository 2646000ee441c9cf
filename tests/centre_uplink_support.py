"""Shared by the centre-uplink tests: the centre simulator as a real process (`wellgate platform
center`), a site whose store is filled with a simulated day of the simulated well, and the
uplink settings that point at the centre."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from accounting_support import SimulatedFeed, site
from centre_support import CentreProcess
from store_support import stored

POINTS = """
[uplinks.points]
flow = "flow-meter/flow_rate"
volume = "flow-meter/forward_total"
energy = "pump-energy/import_energy"
water_level = "well-level/level"
pump_power = "pump-energy/active_power"
"""
SL427_STATION = ("150602", 17)
SL651_STATION = "0015060217"
MAPPED = {("flow-meter", "flow_rate"): "flow", ("flow-meter", "forward_total"): "volume",
          ("pump-energy", "import_energy"): "energy", ("well-level", "level"): "water_level",
          ("pump-energy", "active_power"): "pump_power"}


def sl427_uplink(name: str, port: int, period: float, extra: str = "") -> str:
    return f"""
[[uplinks]]
name = "{name}"
type = "sl427"
host = "127.0.0.1"
port = {port}
county = "{SL427_STATION[0]}"
station = {SL427_STATION[1]}
password = "1234"
report_period = {period}
keepalive_period = 5.0
ack_timeout = 0.4
connect_timeout = 2.0
backoff_initial = 0.1
backoff_max = 0.5
{extra}
{POINTS}"""


def sl651_uplink(name: str, port: int, period: float, extra: str = "") -> str:
    return f"""
[[uplinks]]
name = "{name}"
type = "sl651"
host = "127.0.0.1"
port = {port}
station = "{SL651_STATION}"
password = "1234"
report_period = {period}
keepalive_period = 5.0
ack_timeout = 0.4
connect_timeout = 2.0
backoff_initial = 0.1
backoff_max = 0.5
{extra}
{POINTS}"""


def filled_site(folder: Path, uplinks: str, hours: float = 24.0, every: float = 300.0):
    """A site config with `uplinks`, its store holding `hours` of the simulated well read every
    `every` seconds (real signed store, real writer)."""
    config = site(folder, extra=uplinks, poll=every)
    feed = SimulatedFeed(config, commit_every_s=3600.0)
    try:
        feed.run(hours * 3600.0, every=every)
    finally:
        feed.close()
    return config


def mapped_readings(state_dir: Path) -> list[Any]:
    """The store's committed readings of the mapped points, in seq order."""
    return [r for r in stored(state_dir, "reading") if (r.device, r.point) in MAPPED]


class Centre(CentreProcess):
    """The simulator's test process (tests/centre_support.py) on a chosen port (0: the kernel's
    choice), SIGKILLed to play a crashed platform, faults waited out, its db read as rows."""

    def __init__(self, protocol: str, folder: Path, port: int = 0, *options: str) -> None:
        super().__init__(folder, protocol, "--port", str(port), *options)  # the last --port wins
        self.db_file = self.db_path

    def command(self, **command: Any) -> Any:
        return self.ok(command, timeout=30)

    def wait_fault_used(self, timeout: float = 20.0) -> None:
        """Until the faults in force have all been used up."""
        deadline = time.monotonic() + timeout
        while self.command(cmd="faults"):
            assert time.monotonic() < deadline, "the fault was never used"
            time.sleep(0.05)

    def _rows(self, table: str) -> list[dict[str, Any]]:
        with sqlite3.connect(self.db_path, timeout=10) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY id")]

    def reports(self) -> list[dict[str, Any]]:
        return self._rows("reports")

    def frames(self) -> list[dict[str, Any]]:
        return self._rows("frames")

    def kill(self) -> None:
        """SIGKILL: the centre is gone at once, as a crashed platform would be."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def close(self) -> None:
        self.stop()
