"""The records accounting reads and writes in the store: kinds, names and builders.

- volume (device: flow meter or energy meter; point metered / derived; value m³): start, end,
  source seqs, flags; a derived one also energy, k, head, head model and coefficient version
- energy (energy meter, import_energy, kWh): start, end, source seqs, flags
- flag (meter, totaliser point, amount held): what a person must confirm (reset, spike, ...)
- alarm (meter or "gateway", alarm name, raised / cleared): reason, raised_at
- allocation ("well", threshold, percent): year, used, allocation, source
- accounting ("accounting", checkpoint, cursor seq): the engine's whole state
- health (device or "gateway", state / clock_synchronised, online / offline / 1 / 0): reason;
  ("gateway", clock_step, seconds the wall clock gained): reason, synchronised
- coefficient ("well", coefficient, k): a new coefficient version (from calibration)
- command ("installer", confirm_flag / replace_meter / pump_override, ...): who and what
- pump (relay device, cut_off / restore / confirm): dry run, reason, result
- groundwater (level device, static / cycle, m): the day's static depth to water; a pumping
  cycle's drawdown with its pumping level (accounting/groundwater.py)
- command ("installer", water_plan): a year's plan with its shares (accounting/water_plan.py)
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from gateway import wallclock
from gateway.store.queries import latest_record
from gateway.store.records import KIND_ALARM, NewRecord, Record

KIND_VOLUME = "volume"
KIND_ENERGY = "energy"
KIND_FLAG = "flag"
KIND_ALLOCATION = "allocation"
KIND_CHECKPOINT = "accounting"
KIND_HEALTH = "health"
KIND_COEFFICIENT = "coefficient"
KIND_COMMAND = "command"
KIND_PUMP = "pump"
KIND_GROUNDWATER = "groundwater"
ACCOUNTING_DEVICE = "accounting"
GATEWAY_DEVICE = "gateway"
WELL_DEVICE = "well"
INSTALLER_DEVICE = "installer"
CHECKPOINT_POINT = "checkpoint"
STATE_POINT = "state"
CLOCK_POINT = "clock_synchronised"
STEP_POINT = "clock_step"  # the gateway saw its wall clock step (value: seconds gained)
RAISED, CLEARED = "raised", "cleared"
# What the engine writes itself: read back only for the drift series, never re-counted.
OWN_KINDS = frozenset({KIND_VOLUME, KIND_ENERGY, KIND_FLAG, KIND_ALLOCATION, KIND_CHECKPOINT,
                       KIND_PUMP, KIND_GROUNDWATER})


def make(kind: str, device: str, point: str, value: Any, unit: str, wall_time: float,
         data: dict[str, Any]) -> NewRecord:
    """A derived record: its time is the data's time (the same whenever it is recomputed)."""
    return NewRecord.make(kind, device, point, value, unit, wall_time=wall_time,
                          mono_time=0.0, data=data)


def alarm(device: str, name: str, action: str, at_time: float, reason: str,
          **extra: Any) -> NewRecord:
    return make(KIND_ALARM, device, name, RAISED if action == "raise" else CLEARED, "", at_time,
                {"alarm": name, "reason": reason, **extra})


def health(device: str, point: str, value: Any, reason: str) -> NewRecord:
    """A record of the gateway's own observation (a device's state, the clock) at this moment."""
    return NewRecord.make(KIND_HEALTH, device, point, value, "", wall_time=wallclock.now(),
                          mono_time=time.monotonic(), data={"reason": reason})


def latest_checkpoint(conn: sqlite3.Connection) -> Record | None:
    """The newest checkpoint in the store (scanning back from the end: checkpoints are near it)."""
    return latest_record(conn, KIND_CHECKPOINT, ACCOUNTING_DEVICE, CHECKPOINT_POINT)
