"""Bus throughput and CPU cost of acquisition, side by side with a bare pymodbus polling loop.

The simulated well runs in its own process with byte-time emulation at 9600 baud, so the pty line
behaves like RS-485 (request, 3.5-char gap, reply) and this process's CPU time is the master's only.
Both masters read the same register blocks of the same four meters back to back for the same time.

    .venv/bin/python bench/bus_throughput.py [--seconds 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pymodbus.client import AsyncModbusSerialClient

from drivers import modbus_rtu
from gateway.acquisition.service import Acquisition, polled_devices
from gateway.config import load_config
from gateway.readings import MemorySink

CONFIG = """
[well]
id = "bench"
[gateway]
runtime_dir = "{tmp}/run"
[[buses]]
name = "rs485-1"
type = "rtu"
port = "sim://rtu"
baud = 9600
timeout = 0.2
retries = 0
{devices}
"""
DEVICES = [("flow-meter", "tuf-2000m", 1), ("pump-energy", "chint-dtsu666", 2),
           ("well-level", "qdy30a", 3), ("emf-meter", "xintai-emf", 4)]
BAUD = 9600


def physical_seconds(function: int, count: int) -> float:
    """The bus's own minimum for one read: both frames' bytes plus two 3.5-character gaps."""
    return modbus_rtu.transaction_time(BAUD, 8, modbus_rtu.response_length(function, count))


def start_simulator(config_path: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.simulator", "--config", str(config_path), "--byte-time",
         "--time-scale", "60"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = json.loads(proc.stdout.readline())
    return proc, ready["lines"]["rs485-1"]


async def run_wellgate(config, port: str, seconds: float) -> dict:
    """wellgate's acquisition with every device due every 0.1 s: the bus is the bottleneck."""
    sink = MemorySink(history=0)
    acquisition = Acquisition(config, sink, {"rs485-1": port})
    task = asyncio.create_task(acquisition.run())
    await asyncio.sleep(1.0)  # warm up: ports open, first polls done
    devices = acquisition.pollers[0].devices
    polls0 = {d.name: d.health.good_replies for d in devices}
    points0, cpu0, wall0 = sink.count, time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    points = sink.count - points0
    bus = 0.0
    transactions = 0
    for device in devices:
        for block in device.blocks:
            # good_replies counts blocks; every block of a healthy device is read once a poll
            n = (device.health.good_replies - polls0[device.name]) / len(device.blocks)
            bus += n * physical_seconds(block.function, block.count)
            transactions += n
    acquisition.stop()
    await task
    errors = sum(d.health.timeouts + d.health.crc_errors + d.health.malformed for d in devices)
    return dict(wall=wall, cpu=cpu, points=points, transactions=transactions, bus=bus,
                errors=errors)


async def run_bare_pymodbus(config, port: str, seconds: float) -> dict:
    """The same blocks read in a plain loop: pymodbus client, convert_from_registers, no checks."""
    plan = []
    for device in polled_devices(config, "rs485-1"):
        for block in device.blocks:
            plan.append((device.slave_id, block))
    client = AsyncModbusSerialClient(port, baudrate=BAUD, timeout=0.2, retries=0)
    await client.connect()
    dtypes = {"float32": client.DATATYPE.FLOAT32, "u16": client.DATATYPE.UINT16,
              "i16": client.DATATYPE.INT16, "u32": client.DATATYPE.UINT32,
              "i32": client.DATATYPE.INT32, "bits16": client.DATATYPE.UINT16}
    points = transactions = errors = 0
    bus = 0.0
    deadline = time.perf_counter() + 1.0
    measuring = False
    while True:
        now = time.perf_counter()
        if not measuring and now >= deadline:
            measuring, points, transactions, bus, errors = True, 0, 0, 0.0, 0
            cpu0, wall0, deadline = time.process_time(), now, now + seconds
        elif measuring and now >= deadline:
            break
        for slave, block in plan:
            read = (client.read_holding_registers if block.function == 3
                    else client.read_input_registers)
            try:
                reply = await read(block.address, count=block.count, device_id=slave)
            except Exception:
                errors += 1
                continue
            transactions += 1
            bus += physical_seconds(block.function, block.count)
            for point in block.points:
                regs = block.slice_for(point, reply.registers)
                dtype = dtypes.get(point.type)
                if dtype is None:  # long_fraction: two conversions
                    client.convert_from_registers(regs[:2], client.DATATYPE.INT32)
                    client.convert_from_registers(regs[2:], client.DATATYPE.FLOAT32)
                else:
                    client.convert_from_registers(regs, dtype, word_order="big")
                points += 1
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    client.close()
    return dict(wall=wall, cpu=cpu, points=points, transactions=transactions, bus=bus,
                errors=errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        devices = "".join(
            f'\n[[devices]]\nname = "{n}"\nbus = "rs485-1"\nmodel = "{m}"\nslave_id = {i}\n'
            f"poll_interval = 0.1\n" for n, m, i in DEVICES)
        path = Path(tmp) / "bench.toml"
        path.write_text(CONFIG.format(tmp=tmp, devices=devices))
        config = load_config(path)
        proc, port = start_simulator(path)
        results: dict[str, list[dict]] = {"wellgate": [], "bare pymodbus": []}
        try:
            for _ in range(args.rounds):  # alternate, so drift on a shared machine hits both
                results["wellgate"].append(asyncio.run(run_wellgate(config, port, args.seconds)))
                results["bare pymodbus"].append(
                    asyncio.run(run_bare_pymodbus(config, port, args.seconds)))
        finally:
            proc.terminate()
            proc.wait(5)
    print(f"9600 baud 8N1, byte-time emulation, 4 meters, "
          f"{args.rounds} x {args.seconds:.0f} s each")
    print(f"{'master':15} {'tx/s':>7} {'bus limit used':>15} {'points/s':>9} "
          f"{'CPU µs/point':>13} {'errors':>7}")
    summary = {}
    for name, runs in results.items():
        wall = sum(r["wall"] for r in runs)
        tx = sum(r["transactions"] for r in runs)
        points = sum(r["points"] for r in runs)
        cpu_per_point = sum(r["cpu"] for r in runs) / max(points, 1) * 1e6
        used = sum(r["bus"] for r in runs) / wall
        summary[name] = (used, cpu_per_point)
        print(f"{name:15} {tx / wall:7.1f} {used:15.3f} {points / wall:9.1f} "
              f"{cpu_per_point:13.1f} {sum(r['errors'] for r in runs):7d}")
    (w_used, w_cpu), (b_used, b_cpu) = summary["wellgate"], summary["bare pymodbus"]
    print(f"wellgate / bare pymodbus: bus use {w_used / b_used:.3f}, "
          f"CPU per point {w_cpu / b_cpu:.2f}")


if __name__ == "__main__":
    main()
