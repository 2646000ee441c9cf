"""以电控水: when to stop the pump (decided in the engine, from the store) and the relay writes
(done by the gateway process on the bus, each logged in the store).

The decision is deterministic like all of accounting: once a year, when the counted use reaches
the allocation, the engine writes a `pump` cut_off record (value "requested", or "dry_run": then
nothing is switched). It withholds the cut-off, and says why, while a site override is on or a
meter-fault alarm (or drift) is raised: a meter fault alone never stops a pump. After a request
it watches the pump's power: if it has not fallen to stopped_power_kw within confirm_within_s,
the pump_not_stopped alarm is raised. A new year, an allocation raised above the use, or an
installer's restore command gives the pump back.

The gateway process takes each committed request (the room reads it back) and writes the coil,
recording the result as a `relay` record; a request already carried out is never written twice.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from gateway.accounting.health_rules import FAULT, HOLD, NORMAL
from gateway.accounting.records import KIND_PUMP, WELL_DEVICE, make
from gateway.config import PumpControlSection
from gateway.store.records import NewRecord

log = logging.getLogger(__name__)

CUT_OFF, RESTORE, WITHHELD, CONFIRMED, OVERRIDE = (
    "cut_off", "restore", "withheld", "confirmed", "override")
REQUESTED, DRY_RUN = "requested", "dry_run"
NOT_STOPPED = "pump_not_stopped"
KIND_RELAY = "relay"


class PumpGuard:
    """The cut-off decision of one well; its state goes into the accounting checkpoint."""

    def __init__(self, control: PumpControlSection, state: dict[str, Any] | None = None) -> None:
        self.control = control
        state = state or {}
        self.cut_year: int | None = state.get("cut_year")  # the year the pump was cut off in
        self.cut_at: float | None = state.get("cut_at")  # request time: the window starts here
        self.switched_at: float | None = state.get("switched_at")  # the relay write's time
        self.confirmed: bool = state.get("confirmed", False)
        self.released: bool = state.get("released", False)  # given back by a person this year
        self.withheld: str | None = state.get("withheld")
        self.override: bool = state.get("override", False)

    @property
    def device(self) -> str:
        return self.control.relay_device or WELL_DEVICE

    def _record(self, point: str, value: Any, at_time: float, **data: Any) -> NewRecord:
        record = make(KIND_PUMP, self.device, point, value, "", at_time,
                      {"dry_run": self.control.dry_run, "coil": self.control.coil,
                       "coil_stops_pump": self.control.coil_stops_pump, **data})
        log.warning("pump control: %s %s: %s", point, value, data.get("reason", ""))
        return record

    def check(self, year: int, used: float, allocation: float, at_time: float,
              blocking: list[str]) -> list[NewRecord]:
        """After an interval: cut off once the year's counted use reaches the allocation."""
        out: list[NewRecord] = []
        if self.cut_year is not None and self.cut_year != year:
            out += self._restore(at_time, f"a new year ({year}): its allocation starts")
            self.cut_year, self.released = None, False
        if self.cut_year is not None and not self.released and used < allocation:
            out += self._restore(at_time, f"allocation {allocation:g} m³ is above the use "
                                          f"{used:.3f} m³ now")
            self.cut_year = None
        if used < allocation or self.cut_year == year:
            return out
        why = ("site override on (maintenance)" if self.override else
               f"meter fault alarm raised: {', '.join(blocking)}" if blocking else None)
        if why is not None:
            if why != self.withheld:
                self.withheld = why
                out.append(self._record(WITHHELD, why, at_time, year=year, used_m3=used,
                                        allocation_m3=allocation, reason=why))
            return out
        self.cut_year, self.cut_at, self.confirmed, self.withheld = year, at_time, False, None
        self.switched_at = None
        reason = (f"{year}: {used:.3f} m³ used of the {allocation:g} m³ allocation; "
                  + ("dry run: the relay is not switched" if self.control.dry_run
                     else "stopping the pump"))
        out.append(self._record(CUT_OFF, DRY_RUN if self.control.dry_run else REQUESTED,
                                at_time, year=year, used_m3=used, allocation_m3=allocation,
                                reason=reason))
        return out

    def _restore(self, at_time: float, reason: str) -> list[NewRecord]:
        if self.cut_year is None or self.released:
            return []
        self.cut_at, self.confirmed = None, False
        return [self._record(RESTORE, DRY_RUN if self.control.dry_run else REQUESTED, at_time,
                             reason=reason)]

    def command(self, point: str, data: dict[str, Any], at_time: float) -> list[NewRecord]:
        """An installer's pump_override (active true/false) or pump_restore."""
        out: list[NewRecord] = []
        by = data.get("by", "")
        if point == "pump_override":
            self.override = bool(data.get("active"))
            out.append(self._record(OVERRIDE, "on" if self.override else "off", at_time,
                                    reason=f"site override {'on' if self.override else 'off'}"
                                           f" by {by or 'an installer'}"))
            if self.override and self.cut_year is not None and not self.released:
                out += self._restore(at_time, "site override: the pump may run")
                self.cut_year = None
            elif not self.override:
                self.withheld = None  # judged again at the next interval
        elif point == "pump_restore" and self.cut_year is not None:
            out += self._restore(at_time, f"restored by {by or 'an installer'}")
            self.released = True
        return out

    def switched(self, action: str, ok: bool, at_time: float) -> None:
        """The gateway's relay record: the coil was written (or not) for the latest request."""
        if action == CUT_OFF and ok and self.cut_at is not None:
            self.switched_at = at_time

    def confirm(self, now: float, power_kw: list[tuple[float, float]]) -> tuple[
            str, str, NewRecord | None]:
        """Whether the pump's power fell after a cut-off: (verdict, why, confirmed record)."""
        if self.cut_at is None or self.control.dry_run or self.released:
            return (NORMAL if self.cut_at is None or self.released else HOLD), "", None
        if self.confirmed:
            return NORMAL, "power fell", None
        after = [(t, p) for t, p in power_kw if t >= self.cut_at]
        switched = [(t, p) for t, p in after if self.switched_at is not None
                    and t >= self.switched_at]
        stopped = next(((t, p) for t, p in switched if p <= self.control.stopped_power_kw), None)
        if stopped is not None:
            self.confirmed = True
            record = self._record(CONFIRMED, "power fell", stopped[0], power_kw=stopped[1],
                                  after_s=stopped[0] - self.cut_at,
                                  reason=f"power {stopped[1]:.2f} kW "
                                         f"{stopped[0] - self.cut_at:.0f} s after the cut-off")
            return NORMAL, "power fell", record
        if now - self.cut_at < self.control.confirm_within_s:
            return HOLD, "", None
        last = after[-1][1] if after else None
        shown = "no power reading" if last is None else f"still {last:.2f} kW"
        if self.switched_at is None:
            shown += " and no relay write recorded"
        return FAULT, (f"pump {shown} {now - self.cut_at:.0f} s after the cut-off (relay not "
                       f"switched, contact welded, or the pump fed from elsewhere)"), None

    def to_state(self) -> dict[str, Any]:
        return {"cut_year": self.cut_year, "cut_at": self.cut_at,
                "switched_at": self.switched_at, "confirmed": self.confirmed,
                "released": self.released, "withheld": self.withheld, "override": self.override}


def coil_value(point: str, control_data: dict[str, Any]) -> bool:
    """The coil state a cut_off or restore request means."""
    stops = bool(control_data.get("coil_stops_pump", True))
    return stops if point == CUT_OFF else not stops


def relay_record(request_seq: int, point: str, device: str, coil: int, on: bool, ok: bool,
                 error: str = "") -> NewRecord:
    """The log of one coil write the gateway made (or failed to make)."""
    return NewRecord.make(KIND_RELAY, device, "coil", "on" if on else "off", "",
                          wall_time=time.time(), mono_time=time.monotonic(),
                          data={"request_seq": request_seq, "action": point, "coil": coil,
                                "ok": ok, "error": error or None})
