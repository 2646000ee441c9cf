"""Acquisition on a real RS-485 bus (WELLGATE_HIL_PORT) or on the simulated well (conftest.py)."""

from __future__ import annotations

import asyncio
import itertools
import math
import time

import pytest

from gateway.acquisition import diagnostics as dx
from gateway.acquisition.service import Acquisition, make_transport
from gateway.acquisition.transport import TransactionFailed
from gateway.readings import QUALITY_GOOD, MemorySink

# One bench, one RS-485 line: under xdist these tests run one after another on one worker.
pytestmark = pytest.mark.xdist_group("hil-bench")


async def _run(bench, seconds: float) -> tuple[Acquisition, MemorySink]:
    sink = MemorySink(history=100_000)
    acquisition = Acquisition(bench.config, sink, {bench.bus: bench.port})
    task = asyncio.create_task(acquisition.run())
    await asyncio.sleep(seconds)
    acquisition.stop()
    await asyncio.wait_for(task, 10)
    return acquisition, sink


async def test_every_device_answers_with_good_values(bench):
    acquisition, sink = await _run(bench, 3.0)
    for device in bench.config.devices:
        health = acquisition.board.devices[device.name]
        assert health.state == dx.STATE_ONLINE, health
        readings = [r for (d, _), r in sink.latest.items() if d == device.name]
        assert readings, device.name
        for reading in readings:
            assert reading.quality == QUALITY_GOOD, reading
            if isinstance(reading.value, float):
                assert math.isfinite(reading.value), reading


async def test_totalisers_never_decrease(bench):
    _, sink = await _run(bench, max(4.0, 3.5 * max(d.poll_interval for d in bench.config.devices)))
    series: dict[tuple[str, str], list[float]] = {}
    for reading in sink.history:
        if reading.kind == "total" and reading.value is not None:
            series.setdefault((reading.device, reading.point), []).append(reading.value)
    assert series
    for key, values in series.items():
        assert len(values) >= 3, key
        assert all(b >= a for a, b in itertools.pairwise(values)), (key, values)


async def test_polls_keep_their_interval(bench):
    seconds = max(5.0, 5 * max(d.poll_interval for d in bench.config.devices))
    acquisition, _ = await _run(bench, seconds)
    for device in bench.config.devices:
        health = acquisition.board.devices[device.name]
        expected = seconds / device.poll_interval
        assert health.polls >= 0.8 * expected, (device.name, health.polls, expected)


async def test_an_absent_slave_times_out_without_harm(bench):
    bus = next(b for b in bench.config.buses if b.name == bench.bus)
    transport = make_transport(bus, bench.port)
    assert await transport.open()
    try:
        started = time.monotonic()
        try:
            await transport.read(247, 3, 0, 1)
            raise AssertionError("slave 247 answered; it must be free on the bench")
        except TransactionFailed as failure:
            assert failure.outcome == dx.TIMEOUT, failure
        assert time.monotonic() - started < bus.timeout + 1.0
        device = bench.config.devices[0]
        point = bench.config.device_profile(device).points[0]
        values = await transport.read(device.slave_id, point.function, point.address, 1)
        assert len(values) == 1
    finally:
        await transport.close()
