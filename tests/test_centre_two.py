"""Must-show: two centres at once, one per protocol (the city in SL/T 427, the county in SL 651),
each a real centre simulator process with its own cursor. The city's centre is SIGKILLed for an
hour of simulated time (a minute's poll written every 50 ms) and started again on its port: the
county's reports are not held up meanwhile, and the city catches up, in order, none twice."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path

from accounting_support import SimulatedFeed, site
from centre_uplink_support import Centre, mapped_readings, sl427_uplink, sl651_uplink
from test_centre_delivery import iso
from uplink_support import free_port

from gateway.uplink.service import Uplinks, read_status

POLL = 60.0  # simulated seconds between polls (= the report period)
STEP = 0.05  # real seconds between polls
HOUR = int(3600 / POLL)


async def test_one_centre_down_for_an_hour_does_not_delay_the_other(tmp_path):
    port = free_port()
    city = Centre("sl427", tmp_path, port)
    county = Centre("sl651", tmp_path, 0)
    config = site(tmp_path, poll=POLL, extra=sl427_uplink("city", port, POLL)
                  + sl651_uplink("county", county.port, POLL))
    state = Path(config.gateway.state_dir)
    feed = SimulatedFeed(config, commit_every_s=POLL)
    uplinks = Uplinks.from_config(config, state, tmp_path / "run")  # as `wellgate run` does
    links = uplinks.engines
    assert [type(link).__name__ for link in links] == ["CentreLink", "CentreLink"]
    running = asyncio.create_task(uplinks.run(status_every=0.5))
    committed: dict[float, float] = {}  # simulated wall of a poll -> real time it was committed
    back_at = 0.0  # real time the city's centre was started again
    try:
        for step in range(3 * HOUR):
            if step == HOUR:
                await asyncio.to_thread(city.kill)
            if step == 2 * HOUR:
                city = await asyncio.to_thread(Centre, "sl427", tmp_path, port)
                back_at = time.time()
            await asyncio.to_thread(feed.run, POLL, POLL)
            committed[feed.start + feed.t] = time.time()
            await asyncio.sleep(STEP)
        last = links[0].outbox.backlog("city").last_seq
        deadline = time.monotonic() + 60
        while any(link.status.acked_seq < last for link in links):
            assert time.monotonic() < deadline, [link.status for link in links]
            await asyncio.sleep(0.1)
    finally:
        uplinks.stop()
        await running
        feed.close()
        city.close()
        county.close()
    walls = sorted({r.wall_time for r in mapped_readings(state)})
    assert len(walls) == 3 * HOUR

    # The county: every poll once, each within a moment of its commit, the outage hour too.
    county_reports = [r for r in county.reports() if not r["duplicate"]]
    assert [r["observed"] for r in county_reports] == [iso(w, seconds=False) for w in walls]
    lags = []
    for report, wall in zip(county_reports, walls, strict=True):
        received = datetime.fromisoformat(report["received_at"]).timestamp()
        lags.append(received - committed[wall])
    outage = lags[HOUR:2 * HOUR]
    # Sent while the city was still down, not held until it came back. The last polls of the
    # outage are committed a moment before the restart (a poll step is 0.05 s; the county's lag
    # 0.1-0.2 s here; the centre now starts in well under that), so only those committed over a
    # second before the restart (most of the hour's ~3 real seconds) can prove it.
    before_restart = [(w, lag) for w, lag in zip(walls[HOUR:2 * HOUR], outage, strict=True)
                      if committed[w] < back_at - 1.0]
    assert len(before_restart) >= HOUR // 4, (len(before_restart), back_at)
    assert all(committed[w] + lag < back_at for w, lag in before_restart)
    print(f"county lag during the city outage: median {sorted(outage)[len(outage) // 2]:.3f} s, "
          f"max {max(outage):.3f} s")
    assert max(outage) < 2.5, outage
    assert sorted(outage)[len(outage) // 2] < 0.5, outage

    # The city: nothing during its outage, then the hour it missed, in order, none twice.
    city_flow = [r for r in city.reports() if not r["duplicate"]
                 and "flow_1" in {e["name"] for e in json.loads(r["elements"])}]
    assert [r["observed"] for r in city_flow] == [iso(w) for w in walls]
    assert links[0].status.failures >= 1  # it did lose its centre
    shown = read_status(tmp_path / "run")["uplinks"]  # what `wellgate status` reads
    assert shown["city"]["protocol"] == "sl427" and shown["county"]["protocol"] == "sl651"
    assert shown["city"]["acked_seq"] == shown["county"]["acked_seq"] == last
