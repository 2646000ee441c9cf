"""What `wellgate totals` and `wellgate alarms` print, read from the newest accounting checkpoint.

The checkpoint holds the day/month/year totals, the allocation's state and every alarm's state,
so both commands read one record near the end of the store (read-only, never blocking the
gateway) instead of scanning its history.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from gateway.accounting.ledger import Ledger
from gateway.accounting.periods import DERIVED, METERED, local_zone
from gateway.accounting.records import latest_checkpoint
from gateway.accounting.water_plan import PlanBook, use_against_plan
from gateway.tables import table_lines

SOURCES = (METERED, DERIVED, "energy")


@dataclass(frozen=True)
class AccountingView:
    """The newest checkpoint, ready to print."""

    seq: int  # the checkpoint record's seq
    cursor: int  # the store's records are accounted through this seq
    accounted_to: float | None  # the newest record time accounted
    ledger: Ledger
    allocation: dict[str, Any] | None
    alarms: dict[str, Any]
    coefficients: list[dict[str, Any]]
    open_flags: dict[str, dict[str, Any]]
    compared: Ledger | None = None  # metered and derived over the same stretches
    plans: list[dict[str, Any]] | None = None  # the plans set by commands (the config has more)


def load_view(conn: sqlite3.Connection, time_zone: str) -> AccountingView | None:
    """The view of the newest checkpoint in the store (None: nothing accounted yet)."""
    record = latest_checkpoint(conn)
    if record is None:
        return None
    return view_from_state(record.seq, record.data, time_zone)


def view_from_state(seq: int, state: dict[str, Any], time_zone: str) -> AccountingView:
    """The view of one checkpoint's state (`seq`: the checkpoint record's)."""
    compared = (state.get("compared") or {}).get("ledger")
    return AccountingView(seq, state["cursor"], state.get("last_time"),
                          Ledger(time_zone, state["ledger"]), state.get("allocation"),
                          state.get("alarms", {}), state.get("coefficients", []),
                          state.get("open_flags", {}),
                          None if compared is None else Ledger(time_zone, compared),
                          state.get("plans"))


def local_time(at_time: float | None, time_zone: str) -> str:
    if at_time is None:
        return "-"
    return datetime.fromtimestamp(at_time, local_zone(time_zone)).strftime(
        "%Y-%m-%d %H:%M:%S %z")


def _number(value: float | None, digits: int = 3) -> str:
    return "(folded)" if value is None else f"{value:,.{digits}f}"


def totals_data(view: AccountingView, day: date, allocation: Any, counting: str,
                time_zone: str, plans: PlanBook | None = None) -> dict[str, Any]:
    """The day, month and year of `day` by source, and the year against the allocation and
    the water plan (the year's and the period's: plan, used, share, over plan)."""
    ledger, compared = view.ledger, view.compared
    rows = {
        f"day {day.isoformat()}": {s: ledger.day(day, s) for s in SOURCES},
        f"month {day:%Y-%m}": {s: ledger.month(day.year, day.month, s) for s in SOURCES},
        f"year {day.year}": {s: ledger.year(day.year, s) for s in SOURCES},
    }
    if compared is not None:  # the derived-metered column: both over the same stretches
        day_row, month_row, year_row = rows.values()
        for source in (METERED, DERIVED):
            day_row.setdefault("compared", {})[source] = compared.day(day, source)
            month_row.setdefault("compared", {})[source] = compared.month(
                day.year, day.month, source)
            year_row.setdefault("compared", {})[source] = compared.year(day.year, source)
    data: dict[str, Any] = {"accounted_through_seq": view.cursor,
                            "accounted_to": local_time(view.accounted_to, time_zone),
                            "periods": rows, "allocation": None}
    if allocation is not None:
        used = ledger.year(day.year, counting)
        fired = (view.allocation or {}).get("fired", {}).get(str(day.year), [])
        data["allocation"] = {
            "year": day.year, "annual_m3": allocation.annual_allocation_m3, "counted": counting,
            "used_m3": used, "used_percent": 100.0 * used / allocation.annual_allocation_m3,
            "remaining_m3": allocation.annual_allocation_m3 - used,
            "thresholds_percent": list(allocation.thresholds_percent),
            "thresholds_reached": sorted(fired)}
    year_plan = plans.get(day.year) if plans is not None else None
    data["plan"] = None
    if year_plan is not None:
        by_month = {m: ledger.month(day.year, m, counting) or 0.0
                    for m in year_plan.period_months(day.month)}
        use = use_against_plan(year_plan, day.month, ledger.year(day.year, counting), by_month)
        data["plan"] = {**use.to_data(), "source": year_plan.source, "counted": counting}
    return data


def format_totals(data: dict[str, Any], well: str) -> str:
    rows = []
    for name, row in data["periods"].items():
        metered, derived = row[METERED], row[DERIVED]
        same = row.get("compared") or {}  # over the same stretches, where the state has them
        drift = _drift(same.get(METERED), same.get(DERIVED)) if same else "-"
        rows.append((name, _number(metered), _number(derived), drift, _number(row["energy"])))
    lines = [f"well {well}: accounted to {data['accounted_to']} (store seq "
             f"{data['accounted_through_seq']})", "",
             *table_lines(("period", "metered m³", "derived m³", "derived-metered", "energy kWh"),
                          rows, align="<>>>>", min_widths=(18, 14, 14, 16, 12), sep=" ")]
    allocation = data["allocation"]
    lines.append("")
    if allocation is None:
        lines.append("no allocation configured ([well.accounting.allocation])")
    else:
        reached = ", ".join(f"{t:g} %" for t in allocation["thresholds_reached"]) or "none"
        lines.append(
            f"allocation {allocation['year']}: {allocation['annual_m3']:,.0f} m³, counted from "
            f"{allocation['counted']} volume: used {allocation['used_m3']:,.3f} m³ = "
            f"{allocation['used_percent']:.1f} %, {allocation['remaining_m3']:,.3f} m³ left; "
            f"thresholds {', '.join(f'{t:g} %' for t in allocation['thresholds_percent'])}, "
            f"reached: {reached}")
    lines.append(_plan_line(data.get("plan")))
    return "\n".join(lines)


def _plan_line(plan: dict[str, Any] | None) -> str:
    if plan is None:
        return "no water plan for this year ([well.accounting.plan] or `wellgate plan set`)"
    share = plan["period_percent"]
    return (f"water plan {plan['year']}: {plan['annual_m3']:,.0f} m³ ({plan['source']}): used "
            f"{plan['used_m3']:,.3f} m³ = {plan['used_percent']:.1f} %, over plan "
            f"{plan['over_m3']:,.3f} m³; {plan['period']}: share {plan['period_m3']:,.0f} m³, "
            f"used {plan['period_used_m3']:,.3f} m³ = "
            + ("-" if share is None else f"{share:.1f} %")
            + f", over plan {plan['period_over_m3']:,.3f} m³")


def _drift(metered: float | None, derived: float | None) -> str:
    return f"{(derived - metered) / metered:+.1%}" if metered and derived is not None else "-"


def alarms_data(view: AccountingView, time_zone: str) -> dict[str, Any]:
    """Alarms raised now (since when, why) and the recent ones with raise and clear times."""
    alarms = view.alarms
    raised_at, reasons = alarms.get("raised_at", {}), alarms.get("reasons", {})
    active = []
    for key, latch in sorted(alarms.get("latches", {}).items()):
        if latch.get("active"):
            name, device = key.split("@", 1)
            active.append({"alarm": name, "device": device,
                           "raised": local_time(raised_at.get(key), time_zone),
                           "reason": reasons.get(key, "")})
    recent = [{**entry, "raised": local_time(entry.get("raised"), time_zone),
               "cleared": local_time(entry.get("cleared"), time_zone)}
              for entry in reversed(alarms.get("recent", []))]
    return {"accounted_to": local_time(view.accounted_to, time_zone), "active": active,
            "recent": recent}


# alarm, device, when, reason
_ALARM_COLUMNS: dict[str, Any] = {"min_widths": (24, 14), "sep": (" ", " ", "  "), "indent": "  "}


def format_alarms(data: dict[str, Any], well: str) -> str:
    lines = [f"well {well}: alarms as accounted to {data['accounted_to']}", ""]
    if data["active"]:
        lines.append(f"ACTIVE ({len(data['active'])}):")
        lines += table_lines(None, [(a["alarm"], a["device"], f"since {a['raised']}", a["reason"])
                                    for a in data["active"]], **_ALARM_COLUMNS)
    else:
        lines.append("no alarm active")
    if data["recent"]:
        lines += ["", "recent (raised → cleared):"]
        lines += table_lines(None, [(a["alarm"], a["device"], f"{a['raised']} → {a['cleared']}",
                                     a["reason"]) for a in data["recent"]], **_ALARM_COLUMNS)
    return "\n".join(lines)
