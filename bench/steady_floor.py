"""The floor under wellgate's steady CPU: what its libraries alone cost per second of a workload.

Each primitive is timed alone in this process (time.process_time: every thread, user + system)
against the same peers as bench/steady_cpu.py (`wellgate simulate` for the meters, a local
mosquitto): one pymodbus read of 12 input registers over Modbus TCP and over the byte-timed
9600-baud pty, one SQLite commit of 48 rows of the store's shape (WAL, synchronous=FULL, on
disk), one Ed25519 signature (cryptography), one zlib compression of a batch-sized buffer, one
MQTT QoS 1 publish with its PUBACK (paho, loop thread), one asyncio timer wake-up. Then the sum
for one second of each workload (tcp: 8 reads, serial: 4, each 1 commit of the readings and 1 of
the uplink's cursor, 2 signatures: the block and the batch, 1 publish) per value, for comparison
with bench/steady_cpu.py's figures.

    .venv/bin/python bench/steady_floor.py
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_compare as pc  # the workloads' simulator and broker


def cpu_per(times: int, action) -> float:
    """CPU seconds (all threads) per call of action(), over `times` calls."""
    start = time.process_time()
    for _ in range(times):
        action()
    return (time.process_time() - start) / times


async def modbus_reads(make_client, times: int, slave: int) -> float:
    client = make_client()  # on the running loop, as pymodbus wants
    await client.connect()
    await client.read_input_registers(0, count=12, device_id=slave)  # warm
    start = time.process_time()
    for _ in range(times):
        reply = await client.read_input_registers(0, count=12, device_id=slave)
        assert not reply.isError() and len(reply.registers) == 12
    used = (time.process_time() - start) / times
    client.close()
    return used


def sqlite_commit(folder: Path, rows: int) -> float:
    conn = sqlite3.connect(folder / "floor.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY, kind TEXT, device TEXT, "
                 "point TEXT, value, unit TEXT, quality TEXT, raw BLOB, wall_time REAL, "
                 "mono_time REAL, boot INTEGER, data TEXT, leaf BLOB, hash BLOB)")
    seq = [0]

    def commit() -> None:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [
            (seq[0] + n, "reading", "tcp-meter-1", "voltage_l1", 230.1, "V", "good",
             b"\x43\x66\x19\x9a", time.time(), time.monotonic(), 1, None, None, b"h" * 32)
            for n in range(1, rows + 1)])
        conn.execute("COMMIT")
        seq[0] += rows

    used = cpu_per(50, commit)
    conn.close()
    return used


def mqtt_publish(port: int, times: int) -> float:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="floor-bench")
    acked = threading.Event()
    client.on_publish = lambda *_: acked.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    payload = os.urandom(400)

    def publish() -> None:
        acked.clear()
        client.publish("floor/bench", payload, qos=1)
        if not acked.wait(5):
            raise SystemExit("no PUBACK in 5 s")

    publish()
    used = cpu_per(times, publish)
    client.loop_stop()
    client.disconnect()
    return used


async def timer_wakes(times: int) -> float:
    loop = asyncio.get_running_loop()
    start = time.process_time()
    for _ in range(times):
        waiter = loop.create_future()
        loop.call_later(0.001, waiter.set_result, None)
        await waiter
    return (time.process_time() - start) / times


def main() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

    key = Ed25519PrivateKey.generate()
    batch = os.urandom(512) * 4  # about a 1-s batch of the tcp workload, uncompressed
    with tempfile.TemporaryDirectory(prefix="wellgate-floor-") as tmp:
        folder = Path(tmp)
        broker, port = pc.start_mosquitto(folder)
        sim, lines = pc.start_simulator(folder)
        try:
            host, tcp_port = pc.host_port(lines["tcp-1"])
            one = folder / "one"
            one.mkdir()
            cost = {
                "modbus TCP read": asyncio.run(modbus_reads(
                    lambda: AsyncModbusTcpClient(host, port=tcp_port, timeout=2, retries=0),
                    200, 1)),
                "modbus RTU read (pty, 9600)": asyncio.run(modbus_reads(
                    lambda: AsyncModbusSerialClient(lines["rs485"], baudrate=9600, timeout=1,
                                                    retries=0), 40, 1)),
                "SQLite commit, 48 rows": sqlite_commit(folder, 48),
                "SQLite commit, 1 row": sqlite_commit(one, 1),
                "Ed25519 signature": cpu_per(2000, lambda: key.sign(b"h" * 32)),
                "zlib level 6, 2 KB": cpu_per(2000, lambda: zlib.compress(batch, 6)),
                "MQTT QoS 1 publish + PUBACK": mqtt_publish(port, 200),
                "asyncio timer wake-up": asyncio.run(timer_wakes(2000)),
            }
        finally:
            for process in (sim, broker):
                process.terminate()
                process.wait(10)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| primitive | CPU µs per call |\n|---|---|")
    for name, seconds in cost.items():
        print(f"| {name} | {1e6 * seconds:.0f} |")
    fixed = (cost["SQLite commit, 48 rows"] + cost["SQLite commit, 1 row"]
             + 2 * cost["Ed25519 signature"] + cost["zlib level 6, 2 KB"]
             + cost["MQTT QoS 1 publish + PUBACK"])
    print("\n| workload | floor CPU ms per s | values per s | floor µs per value |")
    print("|---|---|---|---|")
    for workload, reads, read in (("tcp", 8, "modbus TCP read"),
                                  ("serial", 4, "modbus RTU read (pty, 9600)")):
        per_second = reads * (cost[read] + cost["asyncio timer wake-up"]) + fixed
        values = reads * len(pc.POINTS)
        print(f"| {workload} | {1e3 * per_second:.2f} | {values} | "
              f"{1e6 * per_second / values:.0f} |")


if __name__ == "__main__":
    main()
