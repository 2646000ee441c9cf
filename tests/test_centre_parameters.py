"""Parameter queries from the centre, over real TCP: the centre simulator as a real process
(`wellgate platform center`) asks the gateway's centre link (in-process, its store real) for
the station's configuration; the gateway answers from its config, never with its password, and
keeps every query as a signed command record."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from accounting_support import SimulatedFeed, site
from centre_uplink_support import Centre, sl427_uplink, sl651_uplink
from store_support import stored

from gateway.uplink.centres import centre_link


async def linked(link, timeout: float = 20.0) -> asyncio.Task:
    task = asyncio.create_task(link.run())
    deadline = time.monotonic() + timeout
    while not link.status.connected:
        assert time.monotonic() < deadline, link.status
        await asyncio.sleep(0.05)
    return task


async def test_sl651_basic_and_run_parameters_are_answered_from_the_config(tmp_path):
    centre = Centre("sl651", tmp_path, 0, "--password", "1234", "--centre-address", "7")
    config = site(tmp_path, poll=60.0, extra=sl651_uplink("county", centre.port, 3600.0)
                  .replace('password = "1234"', 'password = "1234"\ncentre_address = 7'))
    feed = SimulatedFeed(config, commit_every_s=600.0)
    state = Path(config.gateway.state_dir)
    link = centre_link(config, config.uplinks[0], state, feed.sink.append_record)
    send = lambda command, **args: asyncio.to_thread(  # noqa: E731
        centre.command, cmd="send", station="0015060217", command=command, args=args,
        timeout=5)
    try:
        feed.run(120, every=60)  # SL 651 has no login: the centre knows the station by a report
        task = await linked(link)
        deadline = time.monotonic() + 20
        while "0015060217" not in await asyncio.to_thread(centre.command, cmd="stations"):
            assert time.monotonic() < deadline, "the centre never heard the station"
            await asyncio.sleep(0.1)
        basic = (await send("query_basic"))["result"]["parameters"]
        run = (await send("query_run"))["result"]["parameters"]
        secret = (await send("query_basic", parameters=["03"]))["result"]["parameters"]
        link.stop()
        await task
    finally:
        centre.close()
    assert feed.sink.flush(10)
    records = stored(state, "command")
    feed.close()
    # 01: the centre address configured (one centre); 02: the station; 0C 2: self-report with
    # confirmation. 03, the password, is asked for by default but never answered.
    assert basic == {"centre_addresses": [7, 0, 0, 0], "station": "0015060217", "work_mode": 2}
    assert run == {"report_hours": 1}  # report_period = 3600 s; no add-reports (21)
    assert secret == {}
    assert [(r.device, r.point, r.value) for r in records] == [
        ("centre:county", "parameters", "accepted")] * 3


async def test_sl427_address_and_work_mode_are_answered_and_recorded(tmp_path):
    centre = Centre("sl427", tmp_path, 0, "--password", "1234")
    config = site(tmp_path, poll=60.0, extra=sl427_uplink("city", centre.port, 60.0))
    feed = SimulatedFeed(config, commit_every_s=600.0)
    state = Path(config.gateway.state_dir)
    link = centre_link(config, config.uplinks[0], state, feed.sink.append_record)
    send = lambda command: asyncio.to_thread(  # noqa: E731
        centre.command, cmd="send", station="150602/17", command=command, timeout=5)
    try:
        task = await linked(link)  # SL/T 427 logs in: the centre knows the station at once
        address = (await send("query_address"))["result"]
        mode = (await send("query_mode"))["result"]
        link.stop()
        await task
    finally:
        centre.close()
    assert feed.sink.flush(10)
    records = stored(state, "command")
    feed.close()
    assert address == {"county": "150602", "station": 17}  # the configured address
    assert mode == {"work_mode": 1, "mode": "self_report_confirmed"}
    assert [(r.device, r.point, r.value) for r in records] == [
        ("centre:city", "parameters", "accepted")] * 2
