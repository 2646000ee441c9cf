"""Drain a 30-day backlog to the local receiver over HTTPS and over MQTT: wall time and bytes.

    .venv/bin/python bench/drain_backlog.py                 # 30 days x 16 channels, 1/min
    .venv/bin/python bench/drain_backlog.py --days 1        # a quick look

The backlog: BACKLOG_CONFIG's 16 channels (gateway/simulator/backlog.py) polled once a simulated
minute from the simulated well, through the store's own writer, one signed block a minute
(43,200 blocks, 691,200 readings for 30 days). It is made once in --store (default: a temporary
folder) and reused when that folder already holds it.

Each transport drains the whole store to its own fresh receiver (`wellgate platform serve`, a
separate process, so it has the second core): HTTPS (TLS, trustme certificates) directly, MQTT
through a local mosquitto. Wall time runs from the engine's start to the ack of the last seq; the
receiver acks only after verifying every record's leaf, the chain, each batch's last block
signature (which proves the rest through the chain: docs/platform.md), and committing. Bytes
on the wire = the batches as sent (transport framing not counted: a few hundred bytes per batch
of ~50,000 records). The same records and blocks as uncompressed JSON (one object
of named canonical fields per record, as `wellgate export --format jsonl` writes, plus each block
with hex heads and signature) are measured in the same run. Afterwards each receiver's database is
audited: every seq once, in order, chain and signatures verified again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from uplink_support import Broker, free_port, make_tls  # noqa: E402

from gateway.platform.audit import audit_gateway  # noqa: E402
from gateway.simulator.backlog import CHANNELS, backlog_config, fill_store  # noqa: E402
from gateway.store import StoreWriter, create_key, load_private_key  # noqa: E402
from gateway.store.cursors import record_delivery  # noqa: E402
from gateway.store.keys import public_pem  # noqa: E402
from gateway.store.records import ROW_COLUMNS, Record  # noqa: E402
from gateway.uplink.engine import Limits, UplinkEngine  # noqa: E402
from gateway.uplink.https import HttpsTransport  # noqa: E402
from gateway.uplink.mqtt import MqttTransport  # noqa: E402
from gateway.uplink.nonce import NonceSource  # noqa: E402
from gateway.uplink.outbox import Outbox  # noqa: E402
from gateway.uplink.recipes import recipes_from_config  # noqa: E402
from gateway.uplink.transport import tls_context  # noqa: E402

GATEWAY = "150602-0017"


def make_backlog(folder: Path, days: float) -> tuple[StoreWriter, int]:
    minutes = int(days * 1440)
    if (folder / "wellgate.db").exists():
        writer = StoreWriter(folder, load_private_key(folder))
        last = writer.tail().next_seq - 1
        if last == minutes * CHANNELS:
            print(f"reusing the backlog in {folder}: {last} readings", flush=True)
            return writer, last
        writer.close()
        shutil.rmtree(folder)
    create_key(folder)
    writer = StoreWriter(folder, load_private_key(folder))
    writer.conn.execute("PRAGMA synchronous=OFF")  # making the bench data, not measuring it
    started = time.perf_counter()
    step = 1440
    for start in range(0, minutes, step):
        fill_store(writer, min(step, minutes - start), start_minute=start)
        print(f"\rmaking the backlog: day {start // 1440 + 1} of {minutes // 1440}", end="",
              flush=True)
    writer.conn.execute("PRAGMA synchronous=FULL")
    last = writer.tail().next_seq - 1
    print(f"\rmade {last} readings in {time.perf_counter() - started:.0f} s in {folder}",
          flush=True)
    return writer, last


def json_size(db: Path) -> int:
    """The records as JSON lines of named canonical fields, plus the blocks as JSON."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    total = 0
    for row in conn.execute(f"SELECT {ROW_COLUMNS} FROM records ORDER BY seq"):
        total += len(json.dumps(Record.from_row(row).as_dict(), ensure_ascii=False)) + 1
    for block_no, first, last, prev_head, head, signature in conn.execute(
            "SELECT block_no, first_seq, last_seq, prev_head, head, signature FROM blocks"):
        total += len(json.dumps({"block_no": block_no, "first_seq": first, "last_seq": last,
                                 "prev_head": prev_head.hex(), "head": head.hex(),
                                 "signature": signature.hex()})) + 1
    conn.close()
    return total


def start_receiver(folder: Path, config_text: str, tls_dir: Path | None = None) -> tuple:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "platform.toml"
    config.write_text(config_text)
    process = subprocess.Popen([sys.executable, "-m", "gateway", "platform", "serve",
                                "--config", str(config)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return process, folder / "platform.db"


def registry(folder: Path, writer: StoreWriter) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    pub = folder / "gateway.pub"
    pub.write_bytes(public_pem(writer.key.public_key()))
    return f'[[gateways]]\nid = "{GATEWAY}"\npublic_key = "{pub}"\n'


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drain(writer: StoreWriter, state: Path, name: str, transport, last: int,
                wait_ready, receiver_pid: int) -> dict:
    db = writer.path
    record_delivery(db, name, 0)  # a reused backlog: this destination starts from nothing again
    engine = UplinkEngine(name, transport, Outbox(db), db, writer.key, GATEWAY,
                          NonceSource(state), recipes_from_config(backlog_config()),
                          Limits(max_records=50_000, max_bytes=512 * 1024, max_age=0.0,
                                 backoff_initial=0.2, backoff_max=1.0))
    await wait_ready()
    receiver_cpu = process_cpu(receiver_pid)
    started, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(engine.run())
    while engine.status.acked_seq < last:
        if task.done():
            raise RuntimeError(f"the engine stopped: {engine.status}")
        await asyncio.sleep(0.01)
    seconds = time.perf_counter() - started
    gateway_cpu = time.process_time() - cpu
    receiver_cpu = process_cpu(receiver_pid) - receiver_cpu
    engine.stop()
    await task
    return {"seconds": seconds, "gateway_cpu": gateway_cpu, "receiver_cpu": receiver_cpu,
            "bytes": engine.status.bytes_sent,
            "batches": engine.status.batches, "failures": engine.status.failures,
            "last_error": engine.status.last_error}


def audit(db: Path, writer: StoreWriter, last: int) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    count, low, high, distinct = conn.execute(
        "SELECT count(*), min(seq), max(seq), count(DISTINCT seq) FROM records").fetchone()
    result = audit_gateway(conn, GATEWAY, writer.key.public_key())
    conn.close()
    ok = result.ok and (count, low, high, distinct) == (last, 1, last, last)
    return "every seq once, chain verified" if ok else f"FAILED: {result.problem} {count}"


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--store", type=Path, default=None,
                        help="folder for the backlog store (kept, and reused when it fits)")
    parser.add_argument("--transports", default="https,mqtt")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="wellgate-drain-"))
    state = args.store or work / "gateway"
    writer, last = make_backlog(state, args.days)
    print("measuring the same records as uncompressed JSON ...", flush=True)
    json_bytes = json_size(writer.path)
    tls = make_tls(work / "tls")
    results = {}
    for transport in args.transports.split(","):
        folder = work / transport
        if transport == "https":
            port = free_port()
            process, db = start_receiver(folder, (
                f'[https]\nhost = "127.0.0.1"\nport = {port}\ncertificate = "{tls.server_pem}"\n'
                f'private_key = "{tls.server_pem}"\n' + registry(folder, writer)))
            client = HttpsTransport("bench-https", f"https://127.0.0.1:{port}/v1/batches",
                                    tls_context(tls.ca_file), 120.0)

            async def ready(port=port, process=process) -> None:
                import httpx

                async with httpx.AsyncClient(verify=tls_context(tls.ca_file)) as probe:
                    for _ in range(200):
                        try:
                            await probe.get(f"https://127.0.0.1:{port}/healthz")
                            return
                        except httpx.HTTPError:
                            if process.poll() is not None:
                                raise RuntimeError(process.stderr.read().decode()) from None
                            await asyncio.sleep(0.1)
        else:
            broker = Broker(folder / "broker")
            broker.start()
            process, db = start_receiver(folder, (
                f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n' + registry(folder, writer)))
            client = MqttTransport("bench-mqtt", "127.0.0.1", broker.port, GATEWAY, "wellgate",
                                   120.0)

            async def ready() -> None:
                await asyncio.sleep(1.0)  # the receiver's subscription

        try:
            print(f"draining over {transport} ...", flush=True)
            results[transport] = await drain(writer, state, f"bench-{transport}", client, last,
                                             ready, process.pid)
        finally:
            stop(process)
            if transport == "mqtt":
                broker.stop()
        results[transport]["audit"] = audit(db, writer, last)
    writer.close()

    print(f"\n{last} readings ({args.days:g} days x {CHANNELS} channels, 1/min), "
          f"uncompressed JSON {json_bytes / last:.1f} B/reading")
    print(f"load average (1 min) before the run: {load_before:.2f}, after: "
          f"{os.getloadavg()[0]:.2f} (2 cores, shared with other work)")
    print(f"{'transport':<10} {'wall s':>7} {'CPU gw s':>9} {'CPU rcv s':>10} {'B/reading':>10} "
          f"{'vs JSON':>8} {'batches':>8}  receiver")
    for transport, result in results.items():
        per = result["bytes"] / last
        print(f"{transport:<10} {result['seconds']:>7.1f} {result['gateway_cpu']:>9.1f} "
              f"{result['receiver_cpu']:>10.1f} {per:>10.2f} "
              f"{json_bytes / result['bytes']:>7.0f}x {result['batches']:>8}  "
              f"{result['audit']}")
        if result["failures"]:
            print(f"    {result['failures']} failed attempts, last: {result['last_error']}")
    if args.store is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
