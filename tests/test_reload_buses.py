"""A reload that changes one bus's settings and the accounting: that bus restarts, the other
keeps its poller and its schedule, the accounting room resumes from its checkpoint; a reload
that changes the store's settings is refused naming the key (issue 13, Signals).

In-process (the demo's simulated well on two pty lines, the real store), the config file
rewritten and SIGHUP sent to this process while run_gateway handles it.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import time
from pathlib import Path

from store_support import stored

from gateway.config import StoreSection, load_config
from gateway.daemon import run_gateway
from gateway.simulator import SimulatedWell
from gateway.store import StoreSink, create_key

DEMO = Path(__file__).resolve().parent.parent / "config" / "examples" / "demo.toml"


def demo_text(folder: Path) -> str:
    text = DEMO.read_text(encoding="utf-8").replace('runtime_dir = "/tmp/wellgate-demo"',
                                                   f'runtime_dir = "{folder}/run"\n'
                                                   f'state_dir = "{folder}/state"')
    return text.replace("poll_interval = 10.0", "poll_interval = 1.0").replace(
        "poll_interval = 5.0", "poll_interval = 1.0")


async def test_a_changed_bus_restarts_alone_and_accounting_resumes(tmp_path, caplog):
    path = tmp_path / "site.toml"
    original = demo_text(tmp_path)
    path.write_text(original)
    config = load_config(path)
    state = tmp_path / "state"
    create_key(state)
    store = StoreSink(state, StoreSection(commit_interval=0.5))
    well = SimulatedWell.from_config(config, seed=3)
    await well.start()
    changed = original.replace("timeout = 0.5", "timeout = 0.4").replace(
        "rated_power_kw = 7.5", "rated_power_kw = 8.0")
    store_changed = changed.replace("[acquisition]", "[store]\ncommit_interval = 2.0\n\n"
                                    "[acquisition]")
    seen: dict[str, object] = {}
    started = time.monotonic()
    steps = iter([(3.0, changed), (5.0, store_changed)])
    step = next(steps)

    def tick(acquisition) -> None:
        nonlocal step
        pollers = {poller.name: poller for poller in acquisition.pollers}
        seen.setdefault("before", dict(pollers))
        seen["after"] = dict(pollers)
        if step is not None and time.monotonic() - started > step[0]:
            path.write_text(step[1])
            os.kill(os.getpid(), signal.SIGHUP)
            step = next(steps, None)

    caplog.set_level(logging.INFO)
    try:
        await run_gateway(config, store, well.ports(), seconds=8.0, tick=tick, tick_every=0.2,
                          write_health=False)
    finally:
        await well.stop()
        store.close()
    before, after = seen["before"], seen["after"]
    assert after["meter-645"] is before["meter-645"]  # untouched
    assert after["rs485-1"] is not before["rs485-1"]  # restarted with the new timeout
    assert after["rs485-1"].transport.reply_timeout == 0.4
    reloaded = [r.getMessage() for r in caplog.records if "reloaded" in r.getMessage()]
    assert len(reloaded) == 1 and reloaded[0].endswith(
        "buses restarted: rs485-1; accounting restarted from its checkpoint"), reloaded
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and "store.commit_interval cannot change" in refused[0], refused
    checkpoints = [r for r in stored(state, "accounting") if r.point == "checkpoint"]
    assert len(checkpoints) >= 2  # the old room's at the reload, the new one's at the stop
    for device in ("flow-meter", "grid-meter"):  # polled on at 1 s across the restart
        times = sorted({r.mono_time for r in stored(state, "reading") if r.device == device})
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(times) >= 6 and max(gaps) < 1.95, (device, gaps)
