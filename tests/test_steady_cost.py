"""What the running gateway must not do per poll or per second (issue 16: steady-state CPU).

Each test reproduces a steady-state cost found by profiling `wellgate run` on the peer
workloads (bench/steady_cpu.py) and fails if it comes back."""

from __future__ import annotations

import subprocess

import pytest

from gateway import wallclock


@pytest.fixture
def spawned(monkeypatch) -> list:
    """Every process started through subprocess.Popen while the test runs (they still run)."""
    calls: list = []
    real = subprocess.Popen

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            calls.append(args[0] if args else kwargs.get("args"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Counting)
    return calls


def test_the_kernels_clock_flag_is_read_without_starting_a_process(spawned) -> None:
    # Found: every kernel_synchronised() (twice a second in `wellgate run`: the pollers'
    # ClockState and the daemon's ClockWatch) looked libc up by name with
    # ctypes.util.find_library, which runs `ldconfig -p` in a child process and parses its
    # output with a regex: ~40 % of the gateway's steady CPU on the TCP workload.
    first = wallclock.kernel_synchronised()
    assert first[0] in (0, 1), first  # adjtimex answered, as on any Linux
    spawned.clear()  # loading the library once may ask the loader's cache on a non-glibc system
    state = wallclock.ClockState(every=0.0)  # asks the kernel at every call
    for _ in range(20):
        state.unsynchronised()
        assert wallclock.kernel_synchronised()[0] == first[0]
    assert spawned == []


# --- the uplink: a batch that waits for its age is encoded once, when it goes -----------------

@pytest.fixture
def uplink_setup(tmp_path, monkeypatch):
    """A store of 10 minutes of polls (16 channels once a minute: 160 records), the real
    receiver over HTTPS, and counts of the engine's encodings and full store reads."""
    from uplink_support import GATEWAY, HttpsReceiver, make_store, make_tls

    from gateway.uplink import engine as engine_module
    from gateway.uplink.outbox import Outbox

    store = make_store(tmp_path, minutes=10)
    receiver = HttpsReceiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()},
                             make_tls(tmp_path / "tls"))
    counts = {"encoded": 0, "read": 0}
    real_encode, real_read = engine_module.encode_payload, Outbox.read

    def encode(*args, **kwargs):
        counts["encoded"] += 1
        return real_encode(*args, **kwargs)

    def read(self, *args, **kwargs):
        counts["read"] += 1
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(engine_module, "encode_payload", encode)
    monkeypatch.setattr(Outbox, "read", read)
    monkeypatch.setattr(engine_module, "IDLE_POLL", 0.05)  # many looks in a short test
    receiver.start()
    yield store, receiver, counts
    receiver.close()
    store.writer.close()


async def _run_until(engine, condition, what: str) -> None:
    from uplink_support import async_wait_until

    await async_wait_until(condition, 10, what)


async def test_a_batch_waiting_for_its_age_is_read_once_and_encoded_once(uplink_setup) -> None:
    # Found: while a batch waited for batch_max_age (60 s by default), the engine read the
    # whole batch from the store and encoded and compressed it again every second, then threw
    # it away: at 48 values a second that was 2/3 of `wellgate run`'s steady CPU (25 ms of CPU
    # a second against 9 with batch_max_age = 1 s, bench/steady_cpu.py's workload).
    import asyncio

    from uplink_support import assert_delivered_exactly_once

    from gateway.simulator.backlog import START_WALL
    from gateway.uplink.engine import Limits
    from gateway.uplink.outbox import Outbox

    store, receiver, counts = uplink_setup
    now = [START_WALL + 600.0]  # the records are the newest there are
    engine = store.engine("city", receiver.transport(), Limits(max_age=3600.0))
    engine.clock = lambda: now[0]
    task = asyncio.create_task(engine.run())
    try:
        await _run_until(engine, lambda: engine.status.state == "waiting", "a batch waiting")
        await asyncio.sleep(0.6)  # about a dozen looks at IDLE_POLL = 0.05 s
        store.add_minutes(2)  # committed while it waits: seen by a look, goes with the batch
        await asyncio.sleep(0.6)
        assert counts == {"encoded": 0, "read": 1}
        assert receiver.faults.requests == 0
        now[0] += 3600.0  # the oldest record comes of age: read once more, encoded, sent
        await _run_until(engine, lambda: engine.status.acked_seq == store.last_seq, "acked")
        assert counts["encoded"] == 1
        assert receiver.faults.requests == 1
    finally:
        engine.stop()
        await task
    assert_delivered_exactly_once(receiver.receiver, store)
    assert Outbox(store.db).acked_seq("city") == store.last_seq


async def test_a_waiting_batch_goes_at_once_when_the_store_fills_it(uplink_setup) -> None:
    # The looks at the newest seq still see a batch fill up: it goes without waiting its age.
    import asyncio

    from gateway.simulator.backlog import START_WALL
    from gateway.uplink.engine import Limits

    store, receiver, counts = uplink_setup
    before = store.last_seq
    full = before + 100  # 10 minutes are there (160 records): 100 more fill the batch
    engine = store.engine("city", receiver.transport(), Limits(max_records=full, max_age=3600.0))
    engine.clock = lambda: START_WALL + 600.0
    task = asyncio.create_task(engine.run())
    try:
        await _run_until(engine, lambda: engine.status.state == "waiting", "a batch waiting")
        await asyncio.sleep(0.3)
        assert counts["encoded"] == 0
        store.add_minutes(10)  # 160 more
        await _run_until(engine, lambda: engine.status.acked_seq > before, "a full batch acked")
        assert counts["encoded"] == 1
    finally:
        engine.stop()
        await task


def test_the_health_snapshot_holds_what_dataclasses_asdict_gave(tmp_path) -> None:
    # The snapshot (every 5 s) is now built field by field and written with the C JSON
    # encoder; `wellgate health` must read the same document as before.
    import dataclasses
    import json

    from gateway.acquisition import diagnostics as dx
    from gateway.atomic_file import write_json_atomic

    board = dx.HealthBoard()
    health = board.add(dx.DeviceHealth(device="flow-meter", bus="rs485-1", model="xintai-emf"))
    for outcome, rtt in ((dx.OK, 0.02), (dx.TIMEOUT, None), (dx.OK, 0.3), (dx.CRC_ERROR, 0.1)):
        health.count(outcome, rtt, "detail")
    board.record_change(health, dx.STATE_ONLINE, "answered")
    snapshot = board.snapshot()
    assert snapshot["devices"] == [dataclasses.asdict(health)]
    assert snapshot["changes"] == [dataclasses.asdict(change) for change in board.changes]
    snapshot["devices"][0]["rtt_counts"][0] += 1  # a copy: the live counters stay
    assert health.rtt_counts[1] == 1 and health.rtt_counts[0] == 0
    path = tmp_path / "health.json"
    write_json_atomic(path, board.snapshot())
    assert json.loads(path.read_text())["devices"] == [dataclasses.asdict(health)]
