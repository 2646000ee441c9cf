"""Offline and clock alarms from the running gateway: the simulated well on ptys, real acquisition
into the real store, a meter that dies and comes back, a clock that is not synchronised and then
is. Both alarms are raised by their fault and cleared when it goes."""

from __future__ import annotations

import time

from accounting_support import site, stored

from gateway.accounting.service import AccountingRoom
from gateway.config import StoreSection
from gateway.daemon import run_gateway
from gateway.simulator import SimulatedWell
from gateway.store import StoreSink, create_key

FAST = """
[well.accounting.alarms.clock]
check_every_s = 1
raise_after_s = 1

[acquisition]
offline_after = 2
backoff_initial = 0.5
backoff_max = 1.0
"""


async def test_a_dead_meter_and_an_unsynchronised_clock_raise_and_clear_their_alarms(tmp_path):
    config = site(tmp_path, FAST, poll=0.3, interval=10)
    accounting = config.well.accounting.model_copy(update={"evaluate_every_s": 1.0})
    config = config.model_copy(update={"well": config.well.model_copy(update={
        "accounting": accounting})})
    state = tmp_path / "state"
    create_key(state)
    store = StoreSink(state, StoreSection(commit_interval=0.3))
    well = SimulatedWell.from_config(config, seed=2, time_scale=1)
    await well.start()
    clock = {"synchronised": 0}
    room = AccountingRoom.from_config(config, store, poll_s=0.2,
                                      clock_probe=lambda: (clock["synchronised"], "test probe"))
    room.run_in_thread()
    started = time.monotonic()
    steps = {"dead": False, "alive": False}

    def tick(acquisition) -> None:
        elapsed = time.monotonic() - started
        if elapsed > 2.5 and not steps["dead"]:
            steps["dead"] = True
            well.inject("well-level", "dead")
        if elapsed > 6.0 and not steps["alive"]:
            steps["alive"] = True
            well.clear("well-level")
            clock["synchronised"] = 1

    try:
        acquisition = await run_gateway(config, store, well.ports(), seconds=11.0, tick=tick,
                                        tick_every=0.2, write_health=False, accounting=room)
    finally:
        await well.stop()
        store.close()
    assert acquisition.board.devices["well-level"].state == "online"
    events = [(r.point, r.device, r.value, r.wall_time - started)
              for r in stored(state, "alarm")]
    names = [(name, device, action) for name, device, action, _ in events]
    assert names.count(("offline", "well-level", "raised")) == 1, events
    assert names.count(("offline", "well-level", "cleared")) == 1, events
    assert names.count(("clock_not_synchronised", "gateway", "raised")) == 1, events
    assert names.count(("clock_not_synchronised", "gateway", "cleared")) == 1, events
    assert {device for _, device, _ in names} == {"well-level", "gateway"}  # nothing else
    health = [(r.device, r.point, r.value) for r in stored(state, "health")]
    assert ("well-level", "state", "offline") in health
    assert ("gateway", "clock_synchronised", 0) in health
    assert ("gateway", "clock_synchronised", 1) in health
