"""The gateway config: one TOML file, validated at load, reporting every error (not the first).

Each name is imported from its module when first used (PEP 562), so `from gateway.config import
StoreSection` does not import, nor create, the models of the tables a caller never touches."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_MODULE_OF = {
    "gateway.config.accounting": ("AccountingSection", "AllocationSection", "CalibrationSection",
                                  "CoefficientEntry", "HeadSection"),
    "gateway.config.alarms": ("AlarmsSection", "BackwardsSection", "ClockSection", "DriftSection",
                              "LevelSection", "OfflineSection", "PowerFlowSection",
                              "StatusSection", "StuckSection"),
    "gateway.config.buses": ("Bus", "Device", "Dlt645Bus", "RtuBus", "TcpBus",
                             "resolve_inter_frame_gap"),
    "gateway.config.centres": ("Sl427Uplink", "Sl651Uplink"),
    "gateway.config.loading": ("load_config",),
    "gateway.config.pump_control": ("PumpControlSection",),
    "gateway.config.rules": ("CONFIG_RULES",),
    "gateway.config.schema": ("GatewayConfig",),
    "gateway.config.sections": ("AcquisitionSection", "GatewaySection", "WellSection"),
    "gateway.config.store": ("StoreSection",),
    "gateway.config.summary": ("summarize",),
    "gateway.config.uplinks": ("HttpsUplink", "MqttUplink", "Uplink"),
}
_WHERE = {name: module for module, names in _MODULE_OF.items() for name in names}

__all__ = [
    "CONFIG_RULES",
    "AccountingSection",
    "AcquisitionSection",
    "AlarmsSection",
    "AllocationSection",
    "BackwardsSection",
    "Bus",
    "CalibrationSection",
    "ClockSection",
    "CoefficientEntry",
    "Device",
    "Dlt645Bus",
    "DriftSection",
    "GatewayConfig",
    "GatewaySection",
    "HeadSection",
    "HttpsUplink",
    "LevelSection",
    "MqttUplink",
    "OfflineSection",
    "PowerFlowSection",
    "PumpControlSection",
    "RtuBus",
    "Sl427Uplink",
    "Sl651Uplink",
    "StatusSection",
    "StoreSection",
    "StuckSection",
    "TcpBus",
    "Uplink",
    "WellSection",
    "load_config",
    "resolve_inter_frame_gap",
    "summarize",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from gateway.config.accounting import (
        AccountingSection,
        AllocationSection,
        CalibrationSection,
        CoefficientEntry,
        HeadSection,
    )
    from gateway.config.alarms import (
        AlarmsSection,
        BackwardsSection,
        ClockSection,
        DriftSection,
        LevelSection,
        OfflineSection,
        PowerFlowSection,
        StatusSection,
        StuckSection,
    )
    from gateway.config.buses import (
        Bus,
        Device,
        Dlt645Bus,
        RtuBus,
        TcpBus,
        resolve_inter_frame_gap,
    )
    from gateway.config.centres import Sl427Uplink, Sl651Uplink
    from gateway.config.loading import load_config
    from gateway.config.pump_control import PumpControlSection
    from gateway.config.rules import CONFIG_RULES
    from gateway.config.schema import GatewayConfig
    from gateway.config.sections import AcquisitionSection, GatewaySection, WellSection
    from gateway.config.store import StoreSection
    from gateway.config.summary import summarize
    from gateway.config.uplinks import HttpsUplink, MqttUplink, Uplink
