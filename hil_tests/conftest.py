"""Hardware-in-the-loop fixtures: a real RS-485 port (WELLGATE_HIL_PORT), else the simulated well.

Real hardware
-------------
Set ``WELLGATE_HIL_PORT=/dev/ttyUSB0`` and ``WELLGATE_HIL_CONFIG=/path/to/bench.toml``: a gateway
config whose first bus is the RS-485 adapter on that port and whose devices are the meters wired
to it (their ``port`` value is replaced by WELLGATE_HIL_PORT). Wiring and meter settings:

- USB-RS485 adapter (FTDI or CH340 with automatic direction control) on the Raspberry Pi; A to A
  (D+), B to B (D-) on every meter, GND/shield joined at the adapter end only; 120 Ω termination
  across A-B at both ends of the cable (most adapters have a jumper for their end).
- Every meter set to the bus's baud rate and parity (e.g. 9600 8N1), each with its own slave id
  (SDM120/SDM630: menu "Set > Communication"; DTSU666: "Addr"/"bAud" in the settings menu;
  QDY30A: registers 0x0000 (address) and 0x0001 (baud code) written with FC 6; TUF-2000M:
  windows M46 (address) and M47 (protocol)).
- Slave id 247 must be free: the absent-device test polls it.
- The pump need not run; totaliser tests only check that totals never decrease.

Simulated well
--------------
Without WELLGATE_HIL_PORT the same tests run against ``config/examples/demo.toml``'s Modbus RTU
bus, answered by the simulated well on a pty pair in a background thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.config import GatewayConfig, load_config
from gateway.simulator import SimulatedWell
from gateway.simulator.runner import ThreadRunner

DEMO = Path(__file__).resolve().parent.parent / "config" / "examples" / "demo.toml"


@dataclass
class Bench:
    """What the tests drive: a config with one Modbus RTU bus and its port, real or simulated."""

    config: GatewayConfig
    bus: str
    port: str
    real: bool


@pytest.fixture
def bench(tmp_path):
    port = os.environ.get("WELLGATE_HIL_PORT")
    if port:
        config_path = os.environ.get("WELLGATE_HIL_CONFIG")
        if not config_path:
            pytest.fail("WELLGATE_HIL_PORT is set but WELLGATE_HIL_CONFIG (the bench) is not")
        config = load_config(Path(config_path))
        yield Bench(config, config.buses[0].name, port, real=True)
        return
    full = load_config(DEMO)
    rtu = next(b for b in full.buses if b.type == "rtu")
    config = full.model_copy(update={
        "buses": [rtu.model_copy(update={"timeout": 0.2})],
        # 1 s polls keep the 9600-baud line at about 60 % of its capacity with every point read
        "devices": [d.model_copy(update={"poll_interval": 1.0})
                    for d in full.devices if d.bus == rtu.name],
    })
    well = SimulatedWell.from_config(config, seed=3, time_scale=60.0, emulate_byte_time=True)
    with ThreadRunner(well) as runner:
        ports = runner.start()
        yield Bench(config, rtu.name, ports[rtu.name], real=False)
