"""Shared by the uplink and platform tests: a real store, TLS certificates (trustme), the real
receiver on HTTPS in a thread with faults to switch on, a real mosquitto on a free port."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
import uvicorn

from gateway.platform.audit import audit_gateway
from gateway.platform.http import make_app
from gateway.platform.local import end_process
from gateway.platform.receiver import Receiver
from gateway.simulator.backlog import backlog_config, fill_store
from gateway.store import StoreWriter, create_key, load_private_key
from gateway.uplink.engine import Limits, UplinkEngine
from gateway.uplink.https import HttpsTransport
from gateway.uplink.mqtt import MqttTransport
from gateway.uplink.nonce import NonceSource
from gateway.uplink.outbox import Outbox
from gateway.uplink.recipes import recipes_from_config
from gateway.uplink.transport import tls_context

GATEWAY = "150602-0017"
MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                          if os.path.exists("/usr/sbin/mosquitto") else None)
FAST = Limits(max_records=400, max_bytes=1 << 20, max_age=0.0, backoff_initial=0.05,
              backoff_max=0.4)


def _test_ports() -> range:
    """This xdist worker's own block of ports, below the kernel's ephemeral range: no outgoing
    connection (of this or another worker) takes one while its server is down between restarts,
    and two workers never draw the same one."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            ephemeral = int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    block = (ephemeral - 10000) // workers
    return range(10000 + worker * block, 10000 + (worker + 1) * block)


TEST_PORTS = _test_ports()
_draw = random.Random()  # its own: the tests' seeded randomness stays as it was


def free_port() -> int:
    """A port nothing listens on, from this worker's block (started at random, so that a suite
    run beside this one, in another checkout, is unlikely to try the same ports)."""
    start = _draw.randrange(len(TEST_PORTS))
    for i in range(len(TEST_PORTS)):
        port = TEST_PORTS[(start + i) % len(TEST_PORTS)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {TEST_PORTS}")


def wait_until(condition, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


async def async_wait_until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


# --- the gateway's store ---------------------------------------------------------------------


@dataclass
class Store:
    state_dir: Path
    writer: StoreWriter
    minutes: int = 0

    @property
    def db(self) -> Path:
        return self.writer.path

    @property
    def last_seq(self) -> int:
        return self.writer.tail().next_seq - 1

    def add_minutes(self, minutes: int) -> None:
        fill_store(self.writer, minutes, start_minute=self.minutes)
        self.minutes += minutes

    def engine(self, name: str, transport, limits: Limits = FAST) -> UplinkEngine:
        return UplinkEngine(name, transport, Outbox(self.db), self.db, self.writer.key, GATEWAY,
                            NonceSource(self.state_dir), recipes_from_config(backlog_config()),
                            limits)


def make_store(tmp_path: Path, minutes: int) -> Store:
    state = tmp_path / "gateway"
    create_key(state)
    store = Store(state, StoreWriter(state, load_private_key(state)))
    store.add_minutes(minutes)
    return store


# --- TLS -------------------------------------------------------------------------------------


@dataclass
class Tls:
    ca_file: Path
    server_pem: Path  # certificate chain and key in one file
    other_ca_file: Path  # a CA that signed nothing here
    server_cert: Path  # the same certificate chain and key as two files (mosquitto)
    server_key: Path


def make_tls(folder: Path) -> Tls:
    folder.mkdir(parents=True, exist_ok=True)
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    (folder / "server.crt").write_bytes(b"".join(pem.bytes() for pem in server.cert_chain_pems))
    server.private_key_pem.write_to_path(str(folder / "server.key"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    other.cert_pem.write_to_path(str(folder / "other-ca.pem"))
    return Tls(folder / "ca.pem", folder / "server.pem", folder / "other-ca.pem",
               folder / "server.crt", folder / "server.key")


# --- the receiver on HTTPS, with faults ------------------------------------------------------


@dataclass
class Faults:
    """What the next batch requests meet (each counts down per request)."""

    errors: int = 0  # answered 503 without reaching the receiver
    lose_ack: int = 0  # stored, then the answer never comes (the client times out)
    slow: int = 0  # held `delay` seconds before the receiver sees them
    delay: float = 1.0
    requests: int = 0
    log: list[str] = field(default_factory=list)

    def take(self) -> str:
        self.requests += 1
        for mode in ("errors", "lose_ack", "slow"):
            if getattr(self, mode) > 0:
                setattr(self, mode, getattr(self, mode) - 1)
                self.log.append(mode)
                return mode
        self.log.append("ok")
        return "ok"


class FaultyApp:
    """ASGI wrapper around the receiver's real app."""

    def __init__(self, app, faults: Faults) -> None:
        self.app, self.faults = app, faults

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/batches":
            await self.app(scope, receive, send)
            return
        mode = self.faults.take()
        if mode == "errors":
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"overloaded"})
            return
        if mode == "slow":
            await asyncio.sleep(self.faults.delay)
        if mode == "lose_ack":
            async def swallow(message: dict[str, Any]) -> None:
                pass

            await self.app(scope, receive, swallow)  # the receiver commits ...
            await asyncio.sleep(self.faults.delay)  # ... and the answer is lost
            raise ConnectionAbortedError("ack lost (test fault)")
        await self.app(scope, receive, send)


class HttpsReceiver:
    """The real receiver behind uvicorn with TLS, in a thread; stop() and start() at will."""

    def __init__(self, database: Path, keys: dict, tls: Tls) -> None:
        self.receiver = Receiver(database, keys)
        self.faults = Faults()
        self.app = FaultyApp(make_app(self.receiver), self.faults)
        self.tls = tls
        self.port = free_port()
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/v1/batches"

    def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                ssl_certfile=str(self.tls.server_pem), log_level="critical",
                                access_log=False, timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started or not self.thread.is_alive(), 10, "uvicorn")
        if not self.server.started:
            raise RuntimeError(f"the receiver could not listen on port {self.port}")

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.server.force_exit = True
            self.thread.join(10)
            self.server = None

    def transport(self, ca_file: Path | None = None, timeout: float = 2.0) -> HttpsTransport:
        return HttpsTransport("city", self.url, tls_context(ca_file or self.tls.ca_file),
                              timeout)

    def close(self) -> None:
        self.stop()
        self.receiver.close()


# --- mosquitto -------------------------------------------------------------------------------


def require_mosquitto() -> str:
    """The broker's path; in CI (CI=true) a missing broker fails the test instead of skipping."""
    if MOSQUITTO is None:
        if os.environ.get("CI") == "true":
            pytest.fail("mosquitto is not installed, and CI must run the broker tests "
                        "(.ci/run installs it with apt-get)")
        pytest.skip("mosquitto is not installed (Debian: apt-get install mosquitto)")
    return MOSQUITTO


class Broker:
    """A mosquitto of our own on a free port, persistence in its own folder."""

    def __init__(self, folder: Path, tls: Tls | None = None) -> None:
        self.binary = require_mosquitto()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        listener_tls = (f"cafile {tls.ca_file}\ncertfile {tls.server_cert}\n"
                        f"keyfile {tls.server_key}\n" if tls is not None else "")
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n" + listener_tls +
            "allow_anonymous true\n"
            "user root\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            "max_queued_messages 100000\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def listening() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.process.stderr.read().decode()}")
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(listening, 10, "mosquitto to listen")

    def stop(self) -> None:
        if self.process is not None:
            end_process(self.process)  # SIGTERM: it saves its persistence file
        self.process = None

    def transport(self, timeout: float = 2.0, ca_file: Path | None = None) -> MqttTransport:
        context = tls_context(ca_file) if ca_file is not None else None
        return MqttTransport("county", "127.0.0.1", self.port, GATEWAY, "wellgate", timeout,
                             context)


# --- checks ----------------------------------------------------------------------------------


def assert_delivered_exactly_once(receiver: Receiver, store: Store) -> None:
    """Every record of the store at the receiver once, in order, equal, and the chain verified."""
    conn = receiver.conn
    count, low, high = conn.execute("SELECT count(*), min(seq), max(seq) FROM records WHERE "
                                    "gateway = ?", (GATEWAY,)).fetchone()
    assert (count, low, high) == (store.last_seq, 1, store.last_seq)
    theirs = conn.execute("SELECT seq, kind, device, point, value, unit, quality, raw, "
                          "wall_time, mono_time, boot, data FROM records WHERE gateway = ? "
                          "ORDER BY seq", (GATEWAY,)).fetchall()
    mine = store.writer.conn.execute("SELECT seq, kind, device, point, value, unit, quality, "
                                     "raw, wall_time, mono_time, boot, data FROM records ORDER "
                                     "BY seq").fetchall()
    assert theirs == mine
    audit = audit_gateway(conn, GATEWAY, store.writer.key.public_key())
    assert audit.ok, audit.problem
    assert audit.records == store.last_seq


# --- a gateway uplink as its own process (the SIGKILL test) -----------------------------------


def drain_process_main(state_dir: str, url: str, ca_file: str, batch_records: str) -> None:
    """Deliver the store in state_dir to url until everything is acknowledged, then exit 0."""
    from gateway.store.schema import DB_FILE

    state = Path(state_dir)
    db = state / DB_FILE
    key = load_private_key(state)
    transport = HttpsTransport("city", url, tls_context(Path(ca_file)), 5.0)
    limits = Limits(max_records=int(batch_records), max_bytes=1 << 20, max_age=0.0,
                    backoff_initial=0.05, backoff_max=0.4)
    engine = UplinkEngine("city", transport, Outbox(db), db, key, GATEWAY, NonceSource(state),
                          recipes_from_config(backlog_config()), limits)

    async def run() -> None:
        task = asyncio.create_task(engine.run())
        last = Outbox(db).backlog("city").last_seq
        while engine.status.acked_seq < last:
            await asyncio.sleep(0.01)
        engine.stop()
        await task

    asyncio.run(run())


if __name__ == "__main__":
    import sys

    drain_process_main(*sys.argv[1:])
