"""A store filled with plausible meter history: the simulated well polled once a simulated minute.

For tests and bench/drain_backlog.py. Each minute every device of BACKLOG_CONFIG is read the way
acquisition reads it (the read plan's register blocks, the profile's decoding, DL/T 645 BCD
bytes), from the simulator's meters following WellPhysics, so values, raw registers and quality
are what a real poll of those meters would give. Clocks look like a real poll's: wall_time is
time.time() at each reply (a few tens of milliseconds apart, full float precision), mono_time is
time.monotonic() read right after it. One store block per minute (the store commits a poll burst
together: its commit_interval is longer than the burst).
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.acquisition.decode import decode_dlt645
from gateway.acquisition.service import polled_devices
from gateway.config import GatewayConfig
from gateway.readings import Reading
from gateway.simulator.well import SimulatedWell
from gateway.store.writer import StoreWriter

# 16 channels: flow meter 4, three-phase energy meter 9, level transmitter 2 (level and the
# decimal_point register it is scaled by), the utility's DL/T 645 meter 1.
BACKLOG_CONFIG = """
[well]
id = "150602-0017"

[[buses]]
name = "rs485-1"
type = "rtu"
port = "/dev/ttyUSB0"

[[buses]]
name = "meter-645"
type = "dlt645"
port = "/dev/ttyUSB1"

[[devices]]
name = "flow-meter"
bus = "rs485-1"
model = "tuf-2000m"
slave_id = 1
poll_interval = 60.0
points = ["flow_rate", "forward_total", "error_code", "step_and_signal_quality"]

[[devices]]
name = "pump-energy"
bus = "rs485-1"
model = "chint-dtsu666"
slave_id = 2
poll_interval = 60.0
points = ["voltage_l1", "voltage_l2", "voltage_l3", "current_l1", "current_l2", "current_l3",
          "active_power", "power_factor", "import_energy"]

[[devices]]
name = "well-level"
bus = "rs485-1"
model = "qdy30a"
slave_id = 3
poll_interval = 60.0
points = ["level"]

[[devices]]
name = "grid-meter"
bus = "meter-645"
model = "dlt645-generic"
address = "000000000001"
poll_interval = 60.0
points = ["import_energy"]
"""
CHANNELS = 16
START_WALL = 1_764_547_200.0  # 2025-12-01 00:00 UTC: a plausible time.time() of the first poll
BOOT_UPTIME = 3_187.25  # time.monotonic() at START_WALL: the gateway booted about an hour before


def backlog_config() -> GatewayConfig:
    return GatewayConfig.model_validate(tomllib.loads(BACKLOG_CONFIG))


@dataclass
class Backlog:
    """What fill_store() wrote."""

    readings: int
    blocks: int
    first_seq: int
    last_seq: int


def minute_polls(minutes: int, seed: int = 1, start_wall: float = START_WALL,
                 start_minute: int = 0) -> Iterator[list[Reading]]:
    """One list of readings (every channel) per simulated minute, as acquisition would make them."""
    config = backlog_config()
    well = SimulatedWell.from_config(config, seed=seed, time_scale=0.0)
    rng = random.Random(seed)
    devices = [device for bus in config.buses for device in polled_devices(config, bus.name)]
    clock_offset = start_wall - BOOT_UPTIME
    well.advance(60.0 * start_minute)
    for minute in range(start_minute, start_minute + minutes):
        snap = well.advance(60.0)
        wall = start_wall + 60.0 * minute + rng.uniform(0.0, 0.02)
        out: list[Reading] = []
        for device in devices:
            meter = well.meter(device.name)
            if device.decoder is not None:
                raw_by_point: dict[str, list[int]] = {}
                for block in device.blocks:
                    wall += rng.uniform(0.025, 0.045)  # a 9600-baud transaction
                    words, _ = meter.read_registers(block.function, block.address, block.count,
                                                    snap)
                    for point in block.points:
                        raw_by_point[point.name] = block.slice_for(point, words)
                mono = wall - clock_offset + rng.uniform(1e-6, 4e-6)
                out += device.decoder.decode(raw_by_point, wall, mono)
            else:
                for point in device.dlt_points:
                    wall += rng.uniform(0.2, 0.3)  # a 2400-baud DL/T 645 exchange
                    answer = meter.read_di(point.di, snap)
                    if answer is None:
                        continue
                    mono = wall - clock_offset + rng.uniform(1e-6, 4e-6)
                    out.append(decode_dlt645(device.name, point, answer[0], wall, mono))
        yield out


def fill_store(writer: StoreWriter, minutes: int, seed: int = 1,
               start_wall: float = START_WALL, start_minute: int = 0) -> Backlog:
    """Append `minutes` minutes of polls to the store, one block per minute."""
    first = last = 0
    count = blocks = 0
    for readings in minute_polls(minutes, seed, start_wall, start_minute):
        block = writer.append(readings)
        first = first or block.first_seq
        last = block.last_seq
        count += block.count
        blocks += 1
    return Backlog(count, blocks, first, last)


def make_store(state_dir: Path, minutes: int, seed: int = 1) -> tuple[StoreWriter, Backlog]:
    """A new store with its own key in state_dir, filled with `minutes` of polls (writer open)."""
    from gateway.store.keys import create_key, load_private_key

    create_key(state_dir)
    writer = StoreWriter(state_dir, load_private_key(state_dir))
    return writer, fill_store(writer, minutes, seed)
