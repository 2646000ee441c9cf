"""A simulated pumped well whose meters answer real Modbus RTU, Modbus TCP and DL/T 645 bytes.

    well = SimulatedWell(seed=1, time_scale=1.0)      # time_scale 0: time moves by advance() only
    well.add_line("rs485-1", kind="rtu", baud=9600)   # "rtu" | "dlt645" (pty pairs) | "tcp"
    well.add_device("rs485-1", SimDevice(name="flow-meter", model="tuf-2000m", slave_id=1))
    await well.start(); well.port("rs485-1")          # -> "/dev/pts/N", the path a master opens
    await well.serve_tcp("tcp-1", port=0)             # -> the bound port
    well.inject("flow-meter", "late", delay=0.8)      # faults: see SimulatedWell.inject
    well.served_values("flow-meter"); well.stats("rs485-1"); well.snapshot(); well.advance(60)
    await well.stop()

SimulatedWell.from_config(GatewayConfig) builds one line per bus and one meter per device;
ThreadRunner(well) runs it on its own loop thread; `python -m gateway.simulator --config FILE`
runs it as a process (ports as one JSON line on stdout, JSON-line commands on stdin).
"""

from gateway.simulator.device import ServedRecord, SimDevice
from gateway.simulator.faults import ACTIONS, FAULT_KINDS
from gateway.simulator.physics import Snapshot, WellParams
from gateway.simulator.runner import ThreadRunner
from gateway.simulator.well import SimulatedWell

__all__ = [
    "ACTIONS",
    "FAULT_KINDS",
    "ServedRecord",
    "SimDevice",
    "SimulatedWell",
    "Snapshot",
    "ThreadRunner",
    "WellParams",
]
