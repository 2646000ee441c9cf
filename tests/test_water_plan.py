"""The annual water plan (计划用水, issue 15): monthly and quarterly shares, warnings at the
year's and the period's percentages as signed alarms, use over plan in `wellgate totals`, the
dry-run cut-off at the year's plan, and the year boundary in the well's time zone (UTC+8).

The flow meter is read every minute at 60 m³/h, so each reading adds exactly 1 m³: every figure
below is a count of readings."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from accounting_support import SHANGHAI
from test_accounting_time import Feed

from gateway.accounting.report import totals_data, view_from_state
from gateway.accounting.water_plan import PlanError, YearPlan, even_shares, plan_from_data

PLAN = """
[[devices]]
name = "relay"
bus = "rs485-1"
model = "modbus-relay"
slave_id = 9
poll_interval = 10

[well.accounting.allocation]
annual_m3 = 1000
thresholds_percent = [100]

[well.accounting.plan]
thresholds_percent = [80, 100]
period_thresholds_percent = [80, 100]

[[well.accounting.plan.years]]
year = 2026
annual_m3 = 120
period = "month"
shares_m3 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 100]
source = "test: banner water bureau plan 2026"

[well.pump_control]
enabled = true
dry_run = true
relay_device = "relay"
"""

T0 = datetime(2026, 11, 30, 20, 0, tzinfo=SHANGHAI).timestamp()


def at(*args: int) -> float:
    return datetime(*args, tzinfo=SHANGHAI).timestamp()


class PlanFeed(Feed):
    """One flow-meter reading a minute: `pump(n)` adds 1 m³ at each of n readings."""

    def __init__(self, tmp_path):
        super().__init__(tmp_path, interval=900, extra=PLAN)
        self.now = T0
        self.reading(T0, 0.0, 0.0)

    def jump_to(self, wall: float) -> None:
        """The pump stood still until `wall` (on a 15-minute boundary): the readings a minute
        before and at it, no water. (The gateway polls all along; without the reading before,
        the first interval record after the gap would start where the gap starts, and the
        ledger shares an interval's volume over its span by time.)"""
        for t in (wall - 60.0, wall):
            if t > self.now:
                self.now = t
                self.reading(t, t - T0, 0.0)

    def pump(self, readings: int) -> None:
        for _ in range(readings):
            self.now += 60.0
            self.reading(self.now, self.now - T0, 1.0)

    def alarms(self, since: int = 0):
        return [(r.point, r.value, local(r.wall_time)) for r in self.made[since:]
                if r.kind == "alarm" and r.point.startswith("plan_")]


def local(t: float) -> str:
    return datetime.fromtimestamp(t, SHANGHAI).strftime("%Y-%m-%d %H:%M")


def test_plan_warnings_over_plan_and_the_year_boundary_in_the_wells_time_zone(tmp_path):
    feed = PlanFeed(tmp_path)
    # November's share is 20 m³: 80 % at the 16th m³ (20:16), 100 % at the 20th (20:20)
    feed.pump(20)
    assert feed.alarms() == [("plan_period_80_percent", "raised", "2026-11-30 20:16"),
                             ("plan_period_100_percent", "raised", "2026-11-30 20:20")]
    mark = len(feed.made)
    # December: its share is 100 m³ and nothing is used yet: both period warnings clear at
    # the first reading of the month (07:59 on 1 December)
    feed.jump_to(at(2026, 12, 1, 8, 0))
    assert feed.alarms(mark) == [("plan_period_80_percent", "cleared", "2026-12-01 07:59"),
                                 ("plan_period_100_percent", "cleared", "2026-12-01 07:59")]
    # 76 m³ more: the year at 20 + 76 = 96 m³ = 80 % of 120 (at 09:16); December 76 % of 100
    mark = len(feed.made)
    feed.pump(76)
    assert feed.alarms(mark) == [("plan_year_80_percent", "raised", "2026-12-01 09:16")]
    # New Year's Eve from 23:15: 44 m³ at 23:16 .. 23:59. December reaches 80 m³ (80 %) at
    # the 4th (23:19); the year 120 m³ (100 %) and December 100 m³ (100 %) at the 24th (23:39)
    mark = len(feed.made)
    feed.jump_to(at(2026, 12, 31, 23, 15))
    feed.pump(44)
    assert local(feed.now) == "2026-12-31 23:59"
    assert feed.alarms(mark) == [("plan_period_80_percent", "raised", "2026-12-31 23:19"),
                                 ("plan_year_100_percent", "raised", "2026-12-31 23:39"),
                                 ("plan_period_100_percent", "raised", "2026-12-31 23:39")]
    cut = [r for r in feed.made if r.kind == "pump"]
    # the cut-off follows the year's plan (120 m³), not the 1000 m³ allocation
    assert [(r.point, r.value, r.data["allocation_m3"], local(r.wall_time)) for r in cut] == [
        ("cut_off", "dry_run", 120.0, "2026-12-31 23:39")]
    assert "120 m³ water plan" in cut[0].data["reason"]
    # 2026 in the well's time zone: 20 + 76 + 44 = 140 m³, 20 over the plan; December 120, 20
    # over its share. (The open interval 23:45 .. 23:59 is in the ledger once it closes.)
    feed.engine.close_partial()
    assert feed.year(2026) == pytest.approx(140.0)
    state = feed.engine.to_state()
    report = totals_data(view_from_state(0, state, "Asia/Shanghai"), date(2026, 12, 31),
                         feed.engine.plan.allocation, "metered", "Asia/Shanghai",
                         plans=feed.engine.plans)["plan"]
    assert report == pytest.approx({
        "year": 2026, "annual_m3": 120.0, "used_m3": 140.0, "used_percent": 140 / 120 * 100,
        "over_m3": 20.0, "period": "2026-12", "period_m3": 100.0, "period_used_m3": 120.0,
        "period_percent": 120.0, "period_over_m3": 20.0,
        "source": "test: banner water bureau plan 2026", "counted": "metered"})
    # 2027-01-01 00:00 +08:00 is 2026-12-31 16:00 UTC: the new year there, with no plan yet:
    # every plan warning clears at that reading
    mark = len(feed.made)
    new_year = at(2027, 1, 1, 0, 0)
    assert datetime.fromtimestamp(new_year, UTC) == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    feed.jump_to(new_year)
    assert sorted(feed.alarms(mark)) == [
        ("plan_period_100_percent", "cleared", "2027-01-01 00:00"),
        ("plan_period_80_percent", "cleared", "2027-01-01 00:00"),
        ("plan_year_100_percent", "cleared", "2027-01-01 00:00"),
        ("plan_year_80_percent", "cleared", "2027-01-01 00:00")]
    assert [r.point for r in feed.made[mark:] if r.kind == "pump"] == ["restore"]
    # a signed command sets 2027's plan, by quarter: 400 m³, 100 a quarter. 80 m³ at
    # 01:01 .. 02:20 are 80 % of Q1 (at 02:20) and 20 % of the year (no year warning)
    plan_2027 = YearPlan(2027, 400.0, "quarter", (100.0,) * 4, "test: plan command")
    feed.record("command", "installer", "water_plan", None, at(2027, 1, 1, 0, 5),
                data={**plan_2027.to_data(), "by": "test"})
    feed.jump_to(at(2027, 1, 1, 1, 0))
    mark = len(feed.made)
    feed.pump(80)
    alarms = [r for r in feed.made[mark:] if r.kind == "alarm"]
    assert [(r.point, r.value, local(r.wall_time)) for r in alarms] == [
        ("plan_period_80_percent", "raised", "2027-01-01 02:20")]
    assert alarms[0].data["period"] == "2027-Q1" and alarms[0].data["period_used_m3"] == 80.0


def test_the_plan_survives_a_checkpoint_and_a_bad_command_changes_nothing(tmp_path):
    feed = PlanFeed(tmp_path)
    feed.record("command", "installer", "water_plan", None, T0 + 60,
                data={"year": 2027, "annual_m3": 400, "period": "quarter",
                      "shares_m3": [100, 100, 100], "source": "three quarters", "by": "test"})
    assert feed.engine.plans.get(2027) is None  # refused (logged), nothing else changed
    good = YearPlan(2027, 400.0, "quarter", (100.0, 100.0, 150.0, 50.0), "test", "platform")
    feed.record("command", "installer", "water_plan", None, T0 + 120, data=good.to_data())
    state = feed.engine.to_state()
    from gateway.accounting.engine import AccountingEngine
    again = AccountingEngine(feed.engine.plan, state)
    assert again.plans.get(2027).shares_m3 == (100.0, 100.0, 150.0, 50.0)
    assert again.plans.get(2026).source == "test: banner water bureau plan 2026"  # config's


@pytest.mark.parametrize(("data", "message"), [
    ({"year": 2027, "annual_m3": 400, "period": "quarter", "shares_m3": [100] * 3,
      "source": "x"}, "shares_m3 = [100, 100, 100]: expected 4 shares (one per quarter)"),
    ({"year": 2027, "annual_m3": 400, "period": "quarter", "shares_m3": [100] * 4 + [],
      "source": "x", "origin": "mail"}, "origin = 'mail': expected 'config' or 'installer'"),
    ({"year": 2027, "annual_m3": 400, "period": "week", "shares_m3": [], "source": "x"},
     "period = 'week': expected 'month' or 'quarter'"),
    ({"year": 2027, "annual_m3": 400, "period": "month", "shares_m3": [30] * 12,
      "source": "x"}, "they add up to 360"),
    ({"year": 2027, "annual_m3": 400, "period": "month"}, "missing shares_m3, source"),
])
def test_a_plan_commands_errors_name_the_key_the_value_and_what_is_allowed(data, message):
    with pytest.raises(PlanError) as error:
        plan_from_data(data)
    assert message in str(error.value)


def test_even_shares_add_up_to_the_year():
    # 1000 / 12 = 83.333 eleven times (916.663), the last takes 83.337
    shares = even_shares(1000.0, "month")
    assert shares[:11] == (83.333,) * 11 and shares[11] == pytest.approx(83.337)
    assert sum(shares) == pytest.approx(1000.0)


def test_plan_set_from_the_command_line_is_a_signed_record_the_gateway_takes_up(tmp_path):
    import json

    from accounting_support import SimulatedFeed, site, stored
    from click.testing import CliRunner

    from gateway.accounting.service import AccountingRoom
    from gateway.cli import cli

    def run(*args):
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    config = site(tmp_path)
    path = str(tmp_path / "site.toml")
    feed = SimulatedFeed(config)  # 1 June 2025 in Ordos: the second quarter
    room = AccountingRoom.from_config(config, feed.sink, clock_probe=lambda: (1, "test"))
    try:
        code, out = run("plan", "set", "--config", path, "--year", "2025", "--annual", "400",
                        "--period", "quarter", "--shares", "100,100,150", "--source", "x")
        assert code == 2 and "expected 4 shares (one per quarter)" in out, out
        code, out = run("plan", "set", "--config", path, "--year", "2025", "--annual", "400",
                        "--period", "quarter", "--shares", "100,100,150,50", "--source",
                        "test: bureau plan 2025")
        assert code == 0 and "recorded water_plan as store seq" in out, out
        feed.run(3600, every=30, room=room)
        code, out = run("totals", "--config", path, "--json")
        plan = json.loads(out)["plan"]
        assert (plan["year"], plan["period"], plan["period_m3"]) == (2025, "2025-Q2", 100.0)
        assert plan["used_m3"] == pytest.approx(json.loads(out)["periods"]["year 2025"][
            "metered"]) and plan["used_m3"] > 0
        text = run("totals", "--config", path)[1]
        assert "water plan 2025: 400 m³ (test: bureau plan 2025)" in text, text
        (command,) = stored(feed.state_dir, "command")
        assert (command.point, command.data["shares_m3"]) == ("water_plan", [100, 100, 150, 50])
    finally:
        room.close()
        feed.close()
    assert run("verify", "--db", str(tmp_path / "state" / "wellgate.db"))[0] == 0
