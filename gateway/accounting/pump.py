"""以电控水: when to stop the pump (decided in the engine, from the store) and the relay writes
(done by the gateway process on the bus, each logged in the store).

The decision is deterministic like all of accounting: once a year, when the counted use reaches
the allocation, the engine writes a `pump` cut_off record (value "requested", or "dry_run": then
nothing is switched). It withholds the cut-off, and says why, while a site override is on or a
meter-fault alarm (or drift) is raised: a meter fault alone never stops a pump. After a request
it watches the pump's power: if it has not fallen to stopped_power_kw within confirm_within_s,
the pump_not_stopped alarm is raised. After a confirmed stop every power and flow reading is
watched: a pump running again (relay power-cycled, bypassed) raises pump_running_after_cutoff
and a `reassert` request writes the coil again. A new year, an allocation raised above the
use, or an installer's restore command gives the pump back.

The gateway process takes each committed request (the room reads it back) and writes the coil,
recording the result as a `relay` record (ok only when the coil reads back as written; a failed
write is tried again); a request carried out is never written twice, and while the cut-off is
in force the coil is read back periodically and written again if it was found off.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from gateway import wallclock
from gateway.accounting.health_rules import FAULT, HOLD, NORMAL
from gateway.accounting.records import KIND_PUMP, WELL_DEVICE, make
from gateway.config import PumpControlSection
from gateway.store.records import NewRecord

log = logging.getLogger(__name__)

CUT_OFF, RESTORE, WITHHELD, CONFIRMED, OVERRIDE, REASSERT = (
    "cut_off", "restore", "withheld", "confirmed", "override", "reassert")
REQUESTED, DRY_RUN = "requested", "dry_run"
NOT_STOPPED = "pump_not_stopped"
RUNNING_AFTER = "pump_running_after_cutoff"
RUNNING_FLOW_M3H = 0.5  # a flow above this after a confirmed stop: water is pumped again
REASSERT_SPACING_S = 300.0  # a pump that runs on (bypassed): the coil is re-requested this often
DEFAULT_OVERRIDE_S = 8 * 3600.0  # an override command that names no expiry lasts this long
KIND_RELAY = "relay"
# A centre's pump command (gateway/uplink/centre_commands.py: a signed `command` record whose
# data says whether the centre link took it), carried out here in store order like the rest.
REMOTE_START, REMOTE_STOP = "pump_start", "pump_stop"
COIL_REQUESTS = (CUT_OFF, RESTORE, REASSERT, REMOTE_START, REMOTE_STOP)
PUMP_COMMANDS = ("pump_override", "pump_restore", REMOTE_START, REMOTE_STOP)


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
        self.override_until: float | None = state.get("override_until")  # None: set before
        self.override_reason: str = state.get("override_reason", "")  # overrides had expiries
        self.override_by: str = state.get("override_by", "")
        self.running_again: bool = state.get("running_again", False)  # pump_running_after…
        self.reasserted_at: float | None = state.get("reasserted_at")  # the last reassert

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
              blocking: list[str], clock_trusted: bool = True,
              what: str = "allocation") -> list[NewRecord]:
        """On each counted reading: cut off once the year's counted use reaches the allocation.
        A year other than the cut-off's under an untrusted clock (stepped into a new year)
        gives nothing back: the cut holds until the clock is trusted again."""
        out: list[NewRecord] = self.expire(at_time)
        if self.cut_year is not None and self.cut_year != year and not clock_trusted:
            return out
        if self.cut_year is not None and self.cut_year != year:
            out += self._restore(at_time, f"a new year ({year}): its {what} starts")
            self.cut_year, self.released = None, False
        if self.cut_year is not None and not self.released and used < allocation:
            out += self._restore(at_time, f"{what} {allocation:g} m³ is above the use "
                                          f"{used:.3f} m³ now")
            self.cut_year = None
        if used < allocation or self.cut_year == year:
            return out
        why = ("site override on (maintenance)"
               + (f": {self.override_reason}" if self.override_reason else "")
               if self.override else
               f"meter fault alarm raised: {', '.join(blocking)}" if blocking else None)
        if why is not None:
            if why != self.withheld:
                self.withheld = why
                out.append(self._record(WITHHELD, why, at_time, year=year, used_m3=used,
                                        allocation_m3=allocation, reason=why))
            return out
        self.cut_year, self.cut_at, self.confirmed, self.withheld = year, at_time, False, None
        self.switched_at = None
        reason = (f"{year}: {used:.3f} m³ used of the {allocation:g} m³ {what}; "
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
            until = data.get("until")
            self.override_until = (float(until) if isinstance(until, int | float)
                                   else at_time + DEFAULT_OVERRIDE_S) if self.override else None
            self.override_reason = str(data.get("reason") or data.get("note") or "")
            self.override_by = by
            why = f": {self.override_reason}" if self.override_reason else ""
            out.append(self._record(OVERRIDE, "on" if self.override else "off", at_time,
                                    until=self.override_until, by=by,
                                    override_reason=self.override_reason,
                                    reason=f"site override {'on' if self.override else 'off'}"
                                           f" by {by or 'an installer'}{why}"))
            if self.override and self.cut_year is not None and not self.released:
                out += self._restore(at_time, "site override: the pump may run")
                self.cut_year = None
            elif not self.override:
                self.withheld = None  # judged again at the next interval
        elif point == "pump_restore" and self.cut_year is not None:
            out += self._restore(at_time, f"restored by {by or 'an installer'}")
            self.released = True
        elif point in (REMOTE_START, REMOTE_STOP) and data.get("accepted"):
            out += self.remote(point, by or "a centre", at_time)
        return out

    def remote(self, point: str, by: str, at_time: float) -> list[NewRecord]:
        """A centre's start or stop, judged again in store order: a start is withheld while
        the cut-off is in force, a stop while a site override holds the pump."""
        what = "start" if point == REMOTE_START else "stop"
        if point == REMOTE_START and self.cut_year is not None and not self.released \
                and not self.override:
            why = f"{by}: remote start refused, the cut-off of {self.cut_year} is in force"
        elif point == REMOTE_STOP and self.override:
            why = f"{by}: remote stop refused, a site override holds the pump"
        else:
            return [self._record(point, DRY_RUN if self.control.dry_run else REQUESTED, at_time,
                                 by=by, reason=f"remote {what} by {by}")]
        return [self._record(WITHHELD, why, at_time, by=by, reason=why)]

    def expire(self, now: float) -> list[NewRecord]:
        """An override past its expiry ends by itself (the cut-off is judged again)."""
        if not self.override or self.override_until is None or now < self.override_until:
            return []
        self.override, self.withheld = False, None
        by, why = self.override_by or "an installer", self.override_reason or "no reason given"
        return [self._record(OVERRIDE, "off", now, until=self.override_until,
                             by=self.override_by, override_reason=self.override_reason,
                             reason=f"site override expired (set by {by}: {why})")]

    def switched(self, action: str, ok: bool, at_time: float) -> None:
        """The gateway's relay record: the coil was written (or not) for the latest request."""
        if action in (CUT_OFF, REASSERT) and ok and self.cut_at is not None:
            self.switched_at = at_time

    def watch(self, at_time: float, power: tuple[float, float] | None,
              flow: tuple[float, float] | None) -> tuple[str, str, list[NewRecord]]:
        """On each power or flow reading after a confirmed stop: is the pump running again
        (relay power-cycled, bypassed)? Then (FAULT, why, [a reassert request])."""
        if self.cut_at is None or self.released or self.override or self.control.dry_run:
            self.running_again = False
            return NORMAL, "no cut-off in force", []
        if not self.confirmed and not self.running_again:
            return HOLD, "", []  # the first stop is not confirmed yet: confirm() judges it
        power_kw = power[1] if power is not None and power[0] >= self.cut_at else None
        flow_m3h = flow[1] if flow is not None and flow[0] >= self.cut_at else None
        running = []
        if power_kw is not None and power_kw > self.control.stopped_power_kw:
            running.append(f"power {power_kw:.2f} kW")
        if flow_m3h is not None and flow_m3h > RUNNING_FLOW_M3H:
            running.append(f"flow {flow_m3h:.2f} m³/h")
        due = self.reasserted_at is None or at_time - self.reasserted_at >= REASSERT_SPACING_S
        if self.running_again:  # raised until the stop is confirmed again and nothing runs
            if not running and self.confirmed:
                self.running_again = False
                return NORMAL, "stopped again", []
            if not (running and self.confirmed and due):  # a bypass: again every 300 s
                return FAULT, "pump running after the cut-off", []
        elif not running:
            return NORMAL, "stopped", []
        why = (f"pump running after the confirmed cut-off ({', '.join(running)}): relay "
               f"power-cycled, bypassed or switched by hand")
        self.running_again = True
        if not due:
            ago = at_time - (self.reasserted_at or at_time)
            return FAULT, f"{why}; the coil was written again {ago:.0f} s ago", []
        why += "; writing the coil again"
        self.confirmed, self.reasserted_at = False, at_time
        self.cut_at, self.switched_at = at_time, None  # pump_not_stopped judges from here
        return FAULT, why, [self._record(REASSERT, REQUESTED, at_time, year=self.cut_year,
                                         reason=why)]

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
                "released": self.released, "withheld": self.withheld, "override": self.override,
                "running_again": self.running_again, "reasserted_at": self.reasserted_at,
                "override_until": self.override_until,
                "override_reason": self.override_reason, "override_by": self.override_by}


def coil_value(point: str, control_data: dict[str, Any]) -> bool:
    """The coil state a cut_off (reassert, remote stop) or restore (remote start) means."""
    stops = bool(control_data.get("coil_stops_pump", True))
    return stops if point in (CUT_OFF, REASSERT, REMOTE_STOP) else not stops


def relay_record(request_seq: int, point: str, device: str, coil: int, on: bool, ok: bool,
                 error: str = "", **extra: Any) -> NewRecord:
    """The log of one coil write the gateway made (or failed to make, then it is retried):
    ok only when the coil read back (FC 1) as written."""
    return NewRecord.make(KIND_RELAY, device, "coil", "on" if on else "off", "",
                          wall_time=wallclock.now(), mono_time=time.monotonic(),
                          data={"request_seq": request_seq, "action": point, "coil": coil,
                                "ok": ok, "error": error or None,
                                "carried_out": request_seq if ok else None, **extra})


def status_lines(control: PumpControlSection, state: dict[str, Any] | None,
                 shown: Any) -> list[str]:
    """`wellgate pump status`: the control's setting and the guard's state from a checkpoint
    (`shown` turns a time into the well's local time)."""
    mode = ("off (enabled = false)" if not control.enabled else "DRY RUN (records only)"
            if control.dry_run else f"ON: coil {control.coil} of {control.relay_device}")
    lines = [f"pump control (以电控水): {mode}"]
    if not control.enabled:
        return lines
    guard = PumpGuard(control, state)
    if guard.cut_year is None:
        lines.append("pump: not cut off")
    elif guard.released:
        lines.append(f"pump: cut off in {guard.cut_year}, given back by a person (restore)")
    else:
        state_text = ("running again after the cut-off" if guard.running_again else
                      "stop confirmed (power fell)" if guard.confirmed else "stop not confirmed")
        lines.append(f"pump: cut off in {guard.cut_year} at {shown(guard.cut_at)}: {state_text}")
    if guard.withheld:
        lines.append(f"cut-off withheld: {guard.withheld}")
    if guard.override:
        until = ("no expiry (set before overrides had one)" if guard.override_until is None
                 else shown(guard.override_until))
        lines.append(f"override: ON until {until}")
        lines.append(f"  reason: {guard.override_reason or 'none given'} "
                     f"(by {guard.override_by or 'an installer'})")
    else:
        lines.append("override: off")
    return lines
