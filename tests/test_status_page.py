"""The status page, /api/status and /metrics of a real `wellgate run` polling the simulator
process: 401 without the token or with a wrong one; with it, the values the simulator served and
the store holds, accounting's totals as `wellgate totals` gives them, each uplink's backlog; and
in headless Chromium at phone width, a meter shown offline within seconds of its fault, without
a reload."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from status_support import CHROMIUM, PHONE, TOKEN, StatusSite, launch_chromium, wait_for

from gateway.config import load_config
from gateway.store import fingerprint, load_public_key, open_reader
from gateway.store.queries import latest_record, record_at

pytestmark = pytest.mark.xdist_group("status_page")
ROUTES = ("/", "/api/status", "/metrics")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    running = StatusSite(tmp_path_factory.mktemp("status"))
    try:
        running.wait_serving()
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_is_401_without_the_token_or_with_a_wrong_one(site, route):
    wrong = TOKEN[:-1] + ("0" if TOKEN[-1] != "0" else "1")
    for response in (site.get(route, token=None),
                     site.get(route, token=wrong),
                     httpx.get(site.url + route, headers={"Authorization": "Bearer"}),
                     site.get(route, token=TOKEN + "x"),
                     site.get(route, token=None, params={"token": wrong}),
                     httpx.get(site.url + route, headers={"Authorization": f"Basic {TOKEN}"})):
        assert response.status_code == 401, (route, response.text)
        assert "readings" not in response.text and "flow-meter" not in response.text
    assert site.get(route).status_code == 200
    assert site.get(route, token=None, params={"token": TOKEN}).status_code == 200
    # read-only: nothing but GET (and HEAD)
    assert httpx.post(site.url + route, headers={"Authorization": f"Bearer {TOKEN}"}
                      ).status_code == 405


def _frozen(site) -> None:
    """Stop the simulated well's clock (its values hold still), then wait until every value the
    page shows was read after that (committed: the store commits every few seconds)."""
    site.command(cmd="time_scale", value=0)
    frozen = time.time()

    def read_since(data) -> bool:
        return all(value["age_s"] is not None and data["now_wall"] - value["age_s"] > frozen + 0.6
                   for meter in data["meters"] for value in meter["values"])
    wait_for(lambda: read_since(site.status()), 30, "values read after the freeze")


def test_api_status_shows_what_the_simulator_served_and_the_store_holds(site):
    _frozen(site)
    names = [device.name for device in load_config(site.config).devices]
    before = site.command(cmd="stats", line="rs485-1")["devices"]
    served_before = {name: site.command(cmd="served", device=name) for name in names}
    time.sleep(1.2)  # past the page's one-second cache: a look taken after `before`
    data = site.status()
    after = site.command(cmd="stats", line="rs485-1")["devices"]
    served_after = {name: site.command(cmd="served", device=name) for name in names}
    state = site.config.parent / "state"
    conn = open_reader(state / "wellgate.db")
    try:
        for meter in data["meters"]:
            name = meter["device"]
            # the gateway's count of requests lies between the simulator's two counts
            assert before[name]["requests"] - 1 <= meter["counters"]["requests"] <= (
                after[name]["requests"] + 1), (name, before[name], meter["counters"], after[name])
            assert meter["counters"]["good_replies"] <= after[name]["replies"]
            assert meter["state"] == "online" and meter["reason"] == ""
            compared = []
            for value in meter["values"]:
                point = value["point"]
                stored = record_at(conn, value["seq"])
                assert (stored.kind, stored.device, stored.point) == ("reading", name, point)
                assert (value["value"], value["unit"]) == (stored.value, stored.unit), point
                newest = latest_record(conn, "reading", name, point)
                assert newest.seq >= value["seq"] and value["age_s"] < 30
                first, last = served_before[name].get(point), served_after[name].get(point)
                if isinstance(first, float) and first == last:  # held still (no noise on it)
                    assert value["value"] == pytest.approx(first, rel=1e-6, abs=1e-3), (
                        name, point, first)
                    compared.append(point)
            assert compared, (name, served_before[name], served_after[name])
    finally:
        conn.close()
    assert data["gateway"]["key_fingerprint"] == fingerprint(
        load_public_key(state / "gateway.pub"))
    assert data["well"] == {"id": "150602-0042", "name": "", "timezone": "Asia/Shanghai"}
    assert data["now"].endswith("+0800")  # the well's local time
    assert data["gateway"]["clock"]["synchronised"] in (True, False, None)


def _cli(site, *args: str) -> dict:
    return json.loads(subprocess.run(
        [sys.executable, "-m", "gateway", *args, "--config", str(site.config), "--json"],
        capture_output=True, text=True, timeout=60, check=True).stdout)


def test_water_and_alarms_are_what_wellgate_totals_and_alarms_give(site):
    def same_checkpoint():
        data = site.status()
        shown = data["water"]
        totals = _cli(site, "totals", "--date", shown["day"])
        alarms = _cli(site, "alarms")
        # the first interval (10 s) must have closed for the day to show metered water
        counted = next(iter(shown["periods"].values()))["metered"] > 0
        if (counted and totals["accounted_through_seq"] == shown["accounted_through_seq"]
                and alarms["accounted_to"] == data["alarms"]["accounted_to"]):
            return data, totals, alarms
        return None
    data, totals, alarms = wait_for(same_checkpoint, 40, "the page and the CLI on one checkpoint")
    shown = data["water"]
    assert shown["periods"] == totals["periods"] and shown["allocation"] == totals["allocation"]
    today = next(iter(shown["periods"].values()))
    assert today["metered"] > 0  # the simulated pump ran (before a test froze its clock)
    assert shown["allocation"]["annual_m3"] == 20000
    assert data["alarms"] == alarms


def test_uplink_backlog_is_the_stores_and_the_broker_down_error_is_shown(site):
    uplink = wait_for(lambda: next((u for u in site.status()["uplinks"] if u["last_error"]),
                                   None), 40, "the uplink's first error")
    assert uplink["name"] == "county" and uplink["acked_seq"] == 0
    assert uplink["backlog_records"] == uplink["last_seq"] > 0  # nothing acknowledged
    conn = open_reader(site.config.parent / "state" / "wellgate.db")
    try:
        first_wall = conn.execute("SELECT min(wall_time) FROM records").fetchone()[0]
    finally:
        conn.close()
    assert uplink["oldest_age_s"] == pytest.approx(time.time() - first_wall, abs=10)
    assert uplink["last_success"] is None and uplink["last_error_local"].endswith("+0800")


def _metrics(site) -> dict[str, list]:
    response = site.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(response.text):
        assert family.name.startswith("wellgate_"), family.name
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def _one(samples, **labels) -> float:
    chosen = [s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(chosen) == 1, (labels, samples)
    return chosen[0]


def test_metrics_read_the_gateways_counters(site):
    before = site.command(cmd="stats", line="rs485-1")["devices"]
    time.sleep(1.2)  # past the page's one-second cache
    metrics = _metrics(site)
    after = site.command(cmd="stats", line="rs485-1")["devices"]
    for device in ("flow-meter", "pump-energy", "well-level"):
        requests = _one(metrics["wellgate_device_requests_total"], device=device)
        answers = _one(metrics["wellgate_device_answers_total"], device=device)
        assert before[device]["requests"] - 1 <= requests <= after[device]["requests"] + 1, (
            device, before[device], requests, after[device])
        assert answers > 0
        count = _one(metrics["wellgate_device_round_trip_seconds_count"], device=device)
        inf = _one(metrics["wellgate_device_round_trip_seconds_bucket"], device=device, le="+Inf")
        assert count == inf >= answers  # every answer timed, exception replies too
        buckets = [s.value for s in metrics["wellgate_device_round_trip_seconds_bucket"]
                   if s.labels["device"] == device]
        assert buckets == sorted(buckets)  # cumulative
        assert _one(metrics["wellgate_device_state"], device=device,
                    wellgate_device_state="online") == 1
    for name in ("wellgate_device_timeouts_total", "wellgate_device_crc_errors_total",
                 "wellgate_device_exception_replies_total"):
        assert len(metrics[name]) == 3
    assert _one(metrics["wellgate_uplink_backlog_records"], uplink="county") > 0
    assert _one(metrics["wellgate_uplink_oldest_record_age_seconds"], uplink="county") > 0
    assert _one(metrics["wellgate_uplink_failures_total"], uplink="county") >= 1
    commits = _one(metrics["wellgate_store_commits_total"])
    status = site.status()
    assert 0 < commits <= status["store"]["committed_blocks"]
    assert _one(metrics["wellgate_store_records_total"]) > 0
    assert "wellgate_alarms_raised_total" in metrics


def test_clients_that_stall_mid_request_stall_neither_polling_nor_the_page(site):
    stalled = []
    try:
        for _ in range(8):  # each sends half a request, then nothing
            sock = socket.create_connection(("127.0.0.1", site.port), timeout=5)
            sock.sendall(f"GET /api/status HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                         .encode())
            stalled.append(sock)
        first = site.status()["meters"][0]["counters"]["polls"]
        time.sleep(2.5)  # five poll intervals
        assert site.status()["meters"][0]["counters"]["polls"] >= first + 3
    finally:
        for sock in stalled:
            sock.close()


def test_an_offline_meter_raises_and_clears_its_alarm_in_local_time(site):
    site.command(cmd="inject", device="well-level", fault="dead")
    try:
        raised = wait_for(lambda: [a for a in (site.status()["alarms"] or {}).get("active", [])
                                   if a["device"] == "well-level"], 30, "the offline alarm")
        assert raised[0]["alarm"] == "offline" and raised[0]["raised"].endswith("+0800")
        assert "without a valid answer" in raised[0]["reason"], raised
        metrics = _metrics(site)
        assert _one(metrics["wellgate_alarm_active"], alarm="offline", device="well-level") == 1
        assert _one(metrics["wellgate_alarms_raised_total"]) >= 1
    finally:
        site.command(cmd="clear", device="well-level")
    cleared = wait_for(lambda: [a for a in site.status()["alarms"]["recent"]
                                if a["device"] == "well-level"], 40, "the alarm cleared")
    assert cleared[0]["raised"] == raised[0]["raised"] and cleared[0]["cleared"].endswith("+0800")
    assert not [a for a in site.status()["alarms"]["active"] if a["device"] == "well-level"]


# --- the page in a real browser ------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs the chromium package")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


def test_the_page_fits_a_phone_and_shows_a_meter_offline_without_a_reload(site, browser):
    page = browser.new_page(viewport=PHONE)
    try:
        page.goto(f"{site.url}/?token={TOKEN}")
        card = page.locator('section.meter[data-device="flow-meter"]')
        card.wait_for(timeout=15_000)
        assert card.get_attribute("data-state") == "online"
        assert card.locator('[data-role="state"]').inner_text().strip().lower() == "online"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert "forward total" in card.inner_text() and "m3" in card.inner_text()
        page.evaluate("window.notReloaded = true")
        site.command(cmd="inject", device="flow-meter", fault="dead")
        injected = time.monotonic()
        page.wait_for_selector('section.meter[data-device="flow-meter"][data-state="offline"]',
                               timeout=20_000)
        took = time.monotonic() - injected
        assert page.evaluate("window.notReloaded") is True  # the same page, updated in place
        reason = card.locator('[data-role="reason"]').inner_text()
        assert "timeout" in reason or "answer" in reason, reason
        assert page.locator('section.meter[data-device="pump-energy"]').get_attribute(
            "data-state") == "online"
        print(f"flow-meter shown offline {took:.1f} s after the dead fault")
    finally:
        site.command(cmd="clear", device="flow-meter")
        page.close()
    wait_for(lambda: site.status()["meters"][0]["state"] == "online", 30, "back online")


def test_the_page_says_so_when_the_token_is_wrong(site, browser):
    page = browser.new_page(viewport=PHONE)
    try:
        response = page.goto(f"{site.url}/?token=wrong-token-0000000")
        assert response is not None and response.status == 401
        assert "flow-meter" not in page.content()
    finally:
        page.close()
