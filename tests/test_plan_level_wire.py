"""Issue 15's new records (a water_plan command, plan warnings, groundwater static and cycle
records) are ordinary signed store records: they keep the chain, cross wire format v1 with
their canonical bytes unchanged, and the reference receiver verifies and stores them."""

from __future__ import annotations

import sqlite3
from zoneinfo import ZoneInfo

from uplink_support import GATEWAY, make_store

from gateway.accounting.commands import command_record
from gateway.accounting.groundwater import LevelSettings, LevelWatch, PumpState
from gateway.accounting.records import WELL_DEVICE, alarm
from gateway.accounting.water_plan import YearPlan, year_alarm
from gateway.platform.receiver import Receiver
from gateway.simulator.backlog import backlog_config
from gateway.store import chain
from gateway.uplink import wire
from gateway.uplink.outbox import Outbox
from gateway.uplink.payload import decode_payload, encode_payload
from gateway.uplink.recipes import recipes_from_config

RECIPES = recipes_from_config(backlog_config())
T = 1_798_732_800.0  # 2027-01-01 00:00 +08:00


def issue_15_records() -> list:
    plan = YearPlan(2027, 400.0, "quarter", (100.0, 100.0, 150.0, 50.0), "bureau 2027-04")
    watch = LevelWatch(LevelSettings("well-level", 80.0, 1300.0, 37.0), ZoneInfo("Asia/Shanghai"))
    pump = PumpState()
    made = []
    pump.note(T, False)
    made += watch.reading(T + 1500, 49.2, pump, 7)[0]  # settled: static 30.8 m
    pump.note(T + 1800, True)
    made += watch.pump_changed(T + 1800, True)
    made += watch.reading(T + 3500, 44.5, pump, 8)[0]  # pumping: 35.5 m
    pump.note(T + 3600, False)
    made += watch.pump_changed(T + 3600, False)  # the cycle: drawdown 4.7 m
    made += watch.reading(T + 86_400 + 60, 49.0, pump, 9)[0]  # next day: the day's static
    return [command_record("water_plan", 2027, plan.to_data()),
            alarm(WELL_DEVICE, year_alarm(80), "raise", T + 10, "2027: 80 % of the plan",
                  year=2027, used_m3=320.0, annual_m3=400.0), *made]


def test_new_records_cross_the_wire_unchanged_and_the_receiver_stores_them(tmp_path):
    records = issue_15_records()
    assert [(r.kind, r.point) for r in records] == [
        ("command", "water_plan"), ("alarm", "plan_year_80_percent"),
        ("groundwater", "cycle"), ("groundwater", "static")]
    cycle, static = records[2:]
    assert round(cycle.value, 6) == 4.7 and static.value == 30.8  # 35.5 − 30.8; 80 − 49.2
    store = make_store(tmp_path, minutes=2)
    store.writer.append(records)
    chunk = Outbox(store.db).read(0, 10**6)
    _blocks, back = decode_payload(encode_payload(chunk.blocks, chunk.records, RECIPES),
                                  chunk.first_seq, chunk.blocks[0].block_no)
    assert [chain.canonical_bytes(r) for r in back] == [
        chain.canonical_bytes(r) for r in chunk.records]
    receiver = Receiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()})
    last = store.last_seq
    try:
        data = wire.encode_batch(store.writer.key, GATEWAY, 1, 0.0, chunk.blocks,
                                 chunk.records, chunk.prev_head, chunk.head, RECIPES)
        ack = receiver.accept(data)
    finally:
        receiver.close()
        store.writer.close()
    assert (ack.status, ack.acked_seq) == ("stored", last)
    conn = sqlite3.connect(tmp_path / "platform.db")
    kinds = [row[0] for row in conn.execute(
        "SELECT kind FROM records WHERE kind IN ('groundwater', 'command') ORDER BY seq")]
    conn.close()
    assert kinds == ["command", "groundwater", "groundwater"]
