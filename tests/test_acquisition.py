"""Acquisition against the simulated well on virtual serial lines: values, faults, offline."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from gateway.acquisition import diagnostics as dx
from gateway.acquisition.service import Acquisition
from gateway.config import load_config
from gateway.readings import MemorySink
from gateway.simulator import SimulatedWell

CONFIG = """
[well]
id = "test-well"
[gateway]
runtime_dir = "{runtime}"
[acquisition]
offline_after = 3
backoff_initial = {backoff}
backoff_max = {backoff_max}

[[buses]]
name = "rs485-1"
type = "rtu"
port = "sim://rtu"
baud = 9600
timeout = 0.1
retries = {retries}

[[buses]]
name = "meter-645"
type = "dlt645"
port = "sim://dlt645"
baud = 2400
parity = "E"
timeout = 0.3

[[devices]]
name = "flow-meter"
bus = "rs485-1"
model = "tuf-2000m"
slave_id = 1
poll_interval = {interval}
{flow_points}

[[devices]]
name = "pump-energy"
bus = "rs485-1"
model = "chint-dtsu666"
slave_id = 2
poll_interval = {interval}
{energy_points}

[[devices]]
name = "well-level"
bus = "rs485-1"
model = "qdy30a"
slave_id = 3
poll_interval = {interval}

[[devices]]
name = "emf-meter"
bus = "rs485-1"
model = "xintai-emf"
slave_id = 4
poll_interval = {interval}

[[devices]]
name = "grid-meter"
bus = "meter-645"
model = "dlt645-generic"
address = "000000000001"
poll_interval = 2.0
"""


def make_config(tmp_path: Path, interval: float = 0.5, backoff: float = 0.5,
                backoff_max: float = 1.0, light: bool = False, retries: int = 1):
    """The test well; `light` reads only the accounting points of the flow and energy meters, so
    the 9600-baud bus runs at about half its capacity at a 0.5 s interval."""
    path = tmp_path / "gateway.toml"
    subsets = dict(flow_points="", energy_points="")
    if light:
        subsets = dict(flow_points='points = ["flow_rate", "forward_total"]',
                       energy_points='points = ["active_power", "import_energy"]')
    path.write_text(CONFIG.format(runtime=tmp_path / "run", interval=interval, backoff=backoff,
                                  backoff_max=backoff_max, retries=retries, **subsets))
    return load_config(path)


class Running:
    """The simulated well and the gateway running side by side in one event loop."""

    def __init__(self, config, byte_time: bool, time_scale: float = 0.0) -> None:
        self.config = config
        self.well = SimulatedWell.from_config(config, seed=7, time_scale=time_scale,
                                              emulate_byte_time=byte_time)
        self.sink = MemorySink(history=100_000)

    async def __aenter__(self) -> Running:
        await self.well.start()
        self.acquisition = Acquisition(self.config, self.sink, self.well.ports())
        self.task = asyncio.create_task(self.acquisition.run())
        return self

    async def __aexit__(self, *exc) -> None:
        self.acquisition.stop()
        await asyncio.wait_for(self.task, 5)
        await self.well.stop()

    def health(self, device: str) -> dx.DeviceHealth:
        return self.acquisition.board.devices[device]

    def polls(self) -> dict[str, int]:
        return {name: h.polls for name, h in self.acquisition.board.devices.items()}


def same_value(decoded, served) -> bool:
    if isinstance(served, float) or isinstance(decoded, float):
        return math.isclose(decoded, served, rel_tol=1e-6, abs_tol=1e-9)
    return decoded == served


async def test_every_device_polled_and_values_equal_the_simulators(tmp_path):
    config = make_config(tmp_path)
    async with Running(config, byte_time=False, time_scale=0.0) as run:
        await asyncio.sleep(2.5)
    for device in config.devices:
        health = run.health(device.name)
        assert health.state == dx.STATE_ONLINE, (device.name, health)
        assert health.timeouts == health.crc_errors == health.malformed == 0, health
        served = run.well.served_values(device.name)
        profile = config.device_profile(device)
        decoded = {p: r for (d, p), r in run.sink.latest.items() if d == device.name}
        assert set(decoded) == {p.name for p in profile.points}, device.name
        for point, reading in decoded.items():
            assert same_value(reading.value, served[point]), (device.name, point, reading, served)
            assert reading.unit == next(p.unit for p in profile.points if p.name == point)


async def test_a_dead_and_a_garbling_slave_leave_the_others_poll_rate_within_10_percent(tmp_path):
    interval, window = 0.5, 10.0
    config = make_config(tmp_path, interval, backoff=5.0, backoff_max=60.0, light=True)
    others = ["well-level", "emf-meter"]
    async with Running(config, byte_time=True) as run:
        await asyncio.sleep(1.0)  # settle
        before = run.polls()
        await asyncio.sleep(window)
        healthy = run.polls()
        run.well.inject("flow-meter", "dead")
        # about one reply in six garbled: the meter stays online, its retries cost bus time
        run.well.inject("pump-energy", "garble", probability=0.02)
        await asyncio.sleep(window)
        faulty = run.polls()
    for name in others:
        normal = healthy[name] - before[name]
        with_faults = faulty[name] - healthy[name]
        assert normal >= 0.9 * window / interval, (name, normal)  # the bus keeps up at all
        assert abs(with_faults - normal) <= 0.1 * normal, (name, normal, with_faults)
        assert run.health(name).failed_polls == 0
    assert run.health("flow-meter").state == dx.STATE_OFFLINE
    garbled = run.health("pump-energy")
    assert garbled.crc_errors + garbled.malformed > 0, garbled


async def test_offline_after_n_failed_polls_then_back_by_itself(tmp_path):
    config = make_config(tmp_path, interval=0.3)
    async with Running(config, byte_time=False) as run:
        await asyncio.sleep(1.0)
        flow = run.health("flow-meter")
        assert flow.state == dx.STATE_ONLINE
        polls_before = flow.polls
        run.well.inject("flow-meter", "dead")
        await asyncio.sleep(3.0)
        assert flow.state == dx.STATE_OFFLINE
        change = [c for c in run.acquisition.board.changes if c.device == "flow-meter"][-1]
        assert change.state == dx.STATE_OFFLINE and "3 polls" in change.reason
        # While offline it is only probed with back-off (0.5 s, then 1.0 s): one block, asked once.
        requests_offline = flow.requests
        await asyncio.sleep(3.0)
        probes = flow.requests - requests_offline
        assert 2 <= probes <= 4, probes
        assert flow.polls - polls_before < 3 + 5 + 4  # not polled at its 0.3 s interval
        run.well.clear("flow-meter")
        await asyncio.sleep(1.5)
        assert flow.state == dx.STATE_ONLINE
        assert [c.state for c in run.acquisition.board.changes if c.device == "flow-meter"] == [
            dx.STATE_ONLINE, dx.STATE_OFFLINE, dx.STATE_ONLINE]
        others = [run.health(n) for n in ("pump-energy", "well-level", "emf-meter")]
        assert all(h.state == dx.STATE_ONLINE and h.timeouts == 0 for h in others)


@pytest.mark.parametrize("fault,params,counter", [
    ("crc", {}, "crc_errors"),
    ("exception", {"code": 2}, "exception_replies"),
    ("no_answer", {}, "timeouts"),
])
async def test_each_bus_fault_is_counted_where_it_belongs(tmp_path, fault, params, counter):
    config = make_config(tmp_path, interval=0.3)
    async with Running(config, byte_time=False) as run:
        await asyncio.sleep(0.6)
        run.well.inject("emf-meter", fault, count=1, **params)
        await asyncio.sleep(1.0)
    health = run.health("emf-meter")
    assert getattr(health, counter) == 1, health
    assert health.state == dx.STATE_ONLINE
    for other in ("flow-meter", "pump-energy", "well-level"):
        h = run.health(other)
        assert h.timeouts == h.crc_errors == h.exception_replies == h.malformed == 0, h


async def test_stray_bytes_around_a_reply_are_survived(tmp_path):
    config = make_config(tmp_path, interval=0.3)
    async with Running(config, byte_time=False) as run:
        await asyncio.sleep(0.5)
        run.well.inject("well-level", "stray", before=b"\x00\xff", count=3)
        await asyncio.sleep(1.5)
    health = run.health("well-level")
    assert health.state == dx.STATE_ONLINE
    assert health.good_replies > 3


async def test_a_garbled_reply_ends_the_attempt_at_end_of_frame_not_at_the_timeout(tmp_path):
    """pymodbus drops a bad-CRC frame and would wait out its timeout; the transport ends the
    attempt once the line has been quiet for a few character times (pymodbus internals it uses:
    ctx.comm_params.timeout_connect and ctx.response_future, pinned with pymodbus)."""
    from gateway.acquisition.service import make_transport
    from gateway.acquisition.transport import TransactionFailed

    config = make_config(tmp_path)
    well = SimulatedWell.from_config(config, seed=1, time_scale=0.0)
    await well.start()
    try:
        bus = config.bus("rs485-1").model_copy(update={"timeout": 2.0})
        transport = make_transport(bus, well.port("rs485-1"))
        assert await transport.open()
        well.inject("emf-meter", "crc", count=1)
        started = asyncio.get_running_loop().time()
        with pytest.raises(TransactionFailed) as failure:
            await transport.read(4, 3, 1, 2)
        assert failure.value.outcome == dx.CRC_ERROR
        assert asyncio.get_running_loop().time() - started < 0.3
        assert len(await transport.read(4, 3, 1, 2)) == 2  # the next attempt is clean
        await transport.close()
    finally:
        await well.stop()


async def test_a_slow_meter_costs_only_its_own_timeouts(tmp_path):
    """A reply that comes after the deadline lands while the gateway waits for another device:
    pymodbus skips the frame from the wrong slave, the transport does not take it for a garbled
    reply of the device it is waiting for, and that device's own reply is still taken."""
    # no retries, a busy bus, and the slow meter never offline: its late replies keep landing
    # in other devices' transactions
    config = make_config(tmp_path, interval=0.1, retries=0, light=True)
    config = config.model_copy(update={"acquisition": config.acquisition.model_copy(
        update={"offline_after": 1000})})
    async with Running(config, byte_time=True) as run:
        await asyncio.sleep(0.6)
        run.well.inject("emf-meter", "late", delay=0.15)  # timeout 0.1 s + wire time
        await asyncio.sleep(3.0)
    slow = run.health("emf-meter")
    assert slow.timeouts > 5, slow
    for other in ("flow-meter", "pump-energy", "well-level"):
        h = run.health(other)
        assert h.state == dx.STATE_ONLINE
        assert h.timeouts == h.crc_errors == h.malformed == 0, h


async def test_modbus_tcp_bus_values_equal_the_simulators_and_a_dead_unit_goes_offline(tmp_path):
    """The same acquisition over Modbus TCP (an RS-485-to-Ethernet gateway in front of meters)."""
    path = tmp_path / "tcp.toml"
    path.write_text(f"""
[well]
id = "tcp-well"
[gateway]
runtime_dir = "{tmp_path / 'run'}"
[acquisition]
offline_after = 2
[[buses]]
name = "pumphouse-tcp"
type = "tcp"
host = "127.0.0.1"
timeout = 0.3
[[devices]]
name = "pump-energy"
bus = "pumphouse-tcp"
model = "chint-dtsu666"
slave_id = 1
poll_interval = 0.2
[[devices]]
name = "flow-meter"
bus = "pumphouse-tcp"
model = "tuf-2000m"
slave_id = 2
poll_interval = 0.2
""")
    config = load_config(path)
    well = SimulatedWell.from_config(config, seed=5, time_scale=0.0)
    port = await well.serve_tcp("pumphouse-tcp")
    sink = MemorySink()
    acquisition = Acquisition(config, sink, {"pumphouse-tcp": f"127.0.0.1:{port}"})
    task = asyncio.create_task(acquisition.run())
    try:
        await asyncio.sleep(1.0)
        for device in ("pump-energy", "flow-meter"):
            served = well.served_values(device)
            decoded = {p: r for (d, p), r in sink.latest.items() if d == device}
            assert decoded and set(decoded) == set(served), device
            for point, reading in decoded.items():
                assert same_value(reading.value, served[point]), (device, point)
        well.inject("flow-meter", "dead")
        await asyncio.sleep(1.5)
        board = acquisition.board.devices
        assert board["flow-meter"].state == dx.STATE_OFFLINE
        assert board["pump-energy"].state == dx.STATE_ONLINE
        assert board["pump-energy"].timeouts == 0
    finally:
        acquisition.stop()
        await asyncio.wait_for(task, 5)
        await well.stop()


async def test_a_parity_bus_on_a_pseudo_terminal_opens_every_time(tmp_path):
    """Linux ptys have no parity bit and may refuse parity E: the simulated DL/T 645 line (2400 8E1)
    is opened without parity, again and again (a restarted gateway, a second probe)."""
    from gateway.acquisition.service import make_transport

    config = make_config(tmp_path)
    well = SimulatedWell.from_config(config, seed=1, time_scale=0.0)
    await well.start()
    try:
        for _ in range(3):
            transport = make_transport(config.bus("meter-645"), well.port("meter-645"))
            assert await transport.open()
            assert len(await transport.read("000000000001", "00010000")) == 4
            await transport.close()
    finally:
        await well.stop()
