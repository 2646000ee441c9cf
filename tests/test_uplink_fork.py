"""A fork from the gateway's side (issue 10, item 4): its store cut back (the newest blocks gone,
next seq wound back: a 0-byte file after a power cut, or tampering) and rewritten with other
records under seqs the receiver holds. The receiver refuses with HTTP 409, kind "fork" and the
first differing seq (tests/test_receiver_fork.py); the gateway used to take that 409 for "the
receiver holds more, go on from acked_seq" and sent the same batch again at once, about 43 times
a second, with nothing in `wellgate status` (and, its cursor rewound too, moved its cursor to the
receiver's acked_seq, over records the receiver never got from this chain).

Now a fork refusal is a failure that backs off (backoff_initial .. backoff_max) and keeps backing
off, the cursor stays where it is, the fork is logged once, and `wellgate status` shows state
"fork", the seq and the receiver's reason. Attempts are counted at the real receiver over a few
seconds: bounded by the back-off (most_attempts), not dozens a second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import time

import pytest
from site_config import flow_meter, rtu_bus, site_toml
from uplink_support import GATEWAY, HttpsReceiver, make_store, make_tls, wait_until

from gateway.simulator.backlog import backlog_config, fill_store, minute_polls
from gateway.store import StoreWriter, load_private_key, load_public_key
from gateway.store.cursors import acked_seq, record_delivery
from gateway.store.schema import open_reader
from gateway.uplink import wire
from gateway.uplink.engine import Limits
from gateway.uplink.nonce import NonceSource
from gateway.uplink.outbox import Outbox
from gateway.uplink.recipes import recipes_from_config
from gateway.uplink.transport import AckMessage

RECIPES = recipes_from_config(backlog_config())
INITIAL, MAXIMUM = 0.2, 1.0  # the uplink's backoff_initial and backoff_max here
LIMITS = Limits(max_records=400, max_bytes=1 << 20, max_age=0.0, backoff_initial=INITIAL,
                backoff_max=MAXIMUM)
WELLGATE = [sys.executable, "-m", "gateway"]


def most_attempts(window: float, initial: float = INITIAL, maximum: float = MAXIMUM,
                  jitter: float = 0.5) -> int:
    """The most sends a back-off from `initial` to `maximum` (each wait at least (1 - jitter)
    of its delay) allows within `window` seconds, the first one included."""
    attempts, elapsed, delay = 1, 0.0, 0.0
    while True:
        delay = min(maximum, max(initial, delay * 2))
        elapsed += delay * (1 - jitter)
        if elapsed > window:
            return attempts
        attempts += 1


def deliver_and_fork(writer: StoreWriter, receiver, cursor: int = 320) -> None:
    """Deliver seq 1..320 (blocks of 16) and record `cursor` as the city uplink's; then cut the
    store back to seq 160 and append 12 other minutes, 3 to a block (seq 161..352, blocks of
    48, so the block over the cursor, 305..352, differs from the receiver's first at seq 305)."""
    nonces = NonceSource(writer.state_dir)  # the gateway's own, as its uplink took them
    for after in (0, 160):
        chunk = Outbox(writer.path).read(after, 160)
        data = wire.encode_batch(writer.key, GATEWAY, nonces.next(), 0.0, chunk.blocks,
                                 chunk.records, chunk.prev_head, chunk.head, RECIPES)
        assert receiver.accept(data).acked_seq == after + 160
    record_delivery(writer.path, "city", cursor)
    conn = writer.conn  # what a power cut or tampering leaves: the newest blocks gone
    conn.execute("DELETE FROM records WHERE seq > 160")
    conn.execute("DELETE FROM blocks WHERE last_seq > 160")
    conn.execute("UPDATE meta SET value = 161 WHERE key = 'next_seq'")
    polls = list(minute_polls(12, seed=7, start_minute=500))
    for start in range(0, 12, 3):
        writer.append([reading for poll in polls[start:start + 3] for reading in poll])


def fork_events(receiver) -> list[tuple]:
    receiver.flush_events()
    return receiver.conn.execute("SELECT first_seq, detail FROM events WHERE kind = 'fork'"
                                 ).fetchall()


# --- the engine against the real receiver on HTTPS -----------------------------------------------


@pytest.fixture
def forked(tmp_path):
    store = make_store(tmp_path, minutes=20)  # 320 records, blocks of 16
    receiver = HttpsReceiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()},
                             make_tls(tmp_path / "tls"))
    yield store, receiver
    receiver.close()
    store.writer.close()


async def run_for(engine, seconds: float) -> None:
    task = asyncio.create_task(engine.run())
    await asyncio.sleep(seconds)
    engine.stop()
    await asyncio.wait_for(task, 10)


@pytest.mark.parametrize(("cursor", "fork_seq"), [(320, 305), (144, 161)],
                         ids=["cursor-left-alone", "cursor-rewound-too"])
def test_a_fork_refusal_backs_off_keeps_the_cursor_and_is_shown(forked, caplog, cursor,
                                                                 fork_seq):
    store, receiver = forked
    deliver_and_fork(store.writer, receiver.receiver, cursor)
    receiver.start()
    engine = store.engine("city", receiver.transport(), LIMITS)
    window = 4.0
    with caplog.at_level(logging.INFO, logger="gateway.uplink"):
        asyncio.run(run_for(engine, window))
    attempts = receiver.faults.requests
    assert 2 <= attempts <= most_attempts(window), f"{attempts} sends in {window} s"
    assert acked_seq(store.writer.conn, "city") == cursor  # the cursor did not move
    status = engine.status
    assert status.acked_seq == cursor
    assert status.fork is not None and status.fork["seq"] == fork_seq
    assert f"seq {fork_seq}" in status.fork["reason"], status.fork
    assert status.fork["reason"].startswith("fork:")  # the receiver's own words
    assert attempts - 1 <= status.failures <= attempts  # (the last may be cut short by stop)
    assert status.next_attempt_in is not None and status.next_attempt_in <= MAXIMUM
    assert [event[0] for event in fork_events(receiver.receiver)] == [fork_seq]
    told = [r for r in caplog.records if r.name.startswith("gateway.uplink")
            and "fork" in r.getMessage() and r.levelno >= logging.WARNING]
    assert len(told) == 1, [r.getMessage() for r in told]  # once, not once per retry
    assert f"seq {fork_seq}" in told[0].getMessage()


# --- end to end: `wellgate run` and `wellgate status` ------------------------------------------


def site_text(folder, port, url: str) -> str:
    """Polling the flow meter every 0.5 s, delivering to `url` with this test's back-off."""
    city = {"name": "city", "type": "https", "url": url, "ca_file": "tls/ca.pem",
            "batch_max_age": 1, "timeout": 5, "backoff_initial": INITIAL, "backoff_max": MAXIMUM}
    return site_toml(folder, well=GATEWAY, store={"commit_interval": 0.5},
                     buses=[rtu_bus(port, timeout=0.3, retries=0)],
                     devices=[flow_meter(poll_interval=0.5)], uplinks=[city])


def wellgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*WELLGATE, *args], capture_output=True, text=True, timeout=60)


def test_wellgate_run_backs_off_a_fork_and_status_says_why(tmp_path):
    """The real processes: the simulated well, `wellgate run` on a store that was cut back and
    rewritten after it had delivered seq 1..320, the real receiver on HTTPS."""
    tls = make_tls(tmp_path / "tls")
    state = tmp_path / "state"
    init = wellgate("init", "--state-dir", str(state))
    assert init.returncode == 0, init.stderr
    writer = StoreWriter(state, load_private_key(state))
    fill_store(writer, 20)
    receiver = HttpsReceiver(tmp_path / "platform.db",
                             {GATEWAY: load_public_key(state / "gateway.pub")}, tls)
    try:
        deliver_and_fork(writer, receiver.receiver)
    finally:
        writer.close()
    receiver.start()
    placeholder = tmp_path / "simulated.toml"
    placeholder.write_text(site_text(tmp_path, "/dev/ttyUSB0", receiver.url))
    simulator = subprocess.Popen([sys.executable, "-m", "gateway.simulator", "--config",
                                  str(placeholder)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
    gateway = None
    try:
        port = json.loads(simulator.stdout.readline())["lines"]["rs485-1"]
        config = tmp_path / "gateway.toml"
        config.write_text(site_text(tmp_path, port, receiver.url))
        gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: fork_events(receiver.receiver) or gateway.poll() is not None, 40,
                   "the receiver to record the fork")
        assert gateway.poll() is None, gateway.stderr.read()
        assert fork_events(receiver.receiver)[0][0] == 305
        assert "seq 305" in fork_events(receiver.receiver)[0][1]

        before, window = receiver.faults.requests, 5.0
        time.sleep(window)
        attempts = receiver.faults.requests - before
        assert attempts <= most_attempts(window), f"{attempts} sends in {window} s"
        assert attempts >= 2, "the gateway stopped trying"

        def shown() -> dict | None:
            rows = json.loads(wellgate("status", "--config", str(config), "--json").stdout)
            return rows[0] if rows[0].get("state") == "fork" else None

        wait_until(shown, 20, "`wellgate status` to show the fork")
        row = shown()
        assert row["fork"]["seq"] == 305 and "seq 305" in row["fork"]["reason"], row
        assert row["acked_seq"] == 320  # the cursor stayed
        text = wellgate("status", "--config", str(config)).stdout
        line = next(line for line in text.splitlines() if line.startswith("city "))
        assert " fork " in line and "seq 305" in line, text
        assert "a person must look" in text, text

        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(20) == 0
        log = gateway.stderr.read()
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.kill()
        simulator.send_signal(signal.SIGTERM)
        simulator.wait(10)
        receiver.close()
    told = [line for line in log.splitlines() if "gateway.uplink" in line and "fork" in line]
    assert len(told) == 1, log  # once, not once per retry
    conn = open_reader(state / "wellgate.db")
    try:
        assert acked_seq(conn, "city") == 320
    finally:
        conn.close()


class ScriptedTransport:
    """Answers each send with the next of `acks` (a function of the seqs sent)."""

    name = "city"

    def __init__(self, *acks) -> None:
        self.acks = list(acks)
        self.sent: list[tuple[int, int]] = []

    async def send(self, batch: bytes, nonce: int, seqs: tuple[int, int]) -> AckMessage:
        self.sent.append(seqs)
        return self.acks.pop(0)(nonce, seqs) if self.acks else fork_ack(nonce, seqs, 99)

    async def close(self) -> None:
        pass


def fork_ack(nonce: int, seqs: tuple[int, int], fork_seq: int | None) -> AckMessage:
    return AckMessage("rejected", 320, nonce, f"fork: block over seq {fork_seq} differs", 409,
                      gateway=GATEWAY, first_seq=seqs[0], last_seq=seqs[1], kind="fork",
                      fork_seq=fork_seq)


def test_the_fork_clears_once_the_receiver_takes_batches_again(tmp_path, caplog):
    """Forks at seq 5, then 7 (each logged once), then a stored ack: state and back-off reset."""
    store = make_store(tmp_path, minutes=2)

    def stored(nonce: int, seqs: tuple[int, int]) -> AckMessage:
        return AckMessage("stored", seqs[1], nonce, code=200, stored=seqs[1] - seqs[0] + 1,
                          gateway=GATEWAY, first_seq=seqs[0], last_seq=seqs[1])

    transport = ScriptedTransport(*(lambda n, s: fork_ack(n, s, 5),) * 2,
                                  *(lambda n, s: fork_ack(n, s, 7),) * 2, stored)
    engine = store.engine("city", transport, Limits(max_records=400, max_bytes=1 << 20,
                                                    max_age=0.0, backoff_initial=0.05,
                                                    backoff_max=0.1))
    with caplog.at_level(logging.INFO, logger="gateway.uplink"):
        async def run() -> list[tuple[str, int]]:
            task = asyncio.create_task(engine.run())
            seen = []
            while engine.status.acked_seq < store.last_seq:
                if engine.status.fork is not None:
                    seen.append((engine.status.state, engine.status.fork["seq"]))
                await asyncio.sleep(0.005)
            engine.stop()
            await asyncio.wait_for(task, 10)
            return seen

        seen = asyncio.run(run())
    assert ("fork", 5) in seen and ("fork", 7) in seen
    assert engine.status.fork is None and engine.status.last_success is not None
    assert engine._backoff.delay == 0.0  # reset: the next failure starts from backoff_initial
    assert len(transport.sent) == 5 and set(transport.sent) == {(1, store.last_seq)}
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and "seq 5" in errors[0] and "seq 7" in errors[1], errors
    assert any("resolved" in r.getMessage() for r in caplog.records)
    store.writer.close()
