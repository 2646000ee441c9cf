"""A simulated pumped well whose meters answer real Modbus RTU, Modbus TCP and DL/T 645 bytes.

well = SimulatedWell(seed=1, time_scale=1.0)
well.add_line("rs485-1", kind="rtu", baud=9600)
well.add_device("rs485-1", SimDevice(name="flow-meter", model="tuf-2000m", slave_id=1))
await well.start(); well.port("rs485-1")  # -> "/dev/pts/N"
well.inject("flow-meter", "late", delay=0.8); well.served_values("flow-meter")
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
