"""The gateway config: one TOML file, validated at load, reporting every error (not the first)."""

from gateway.config.accounting import (
    AccountingSection,
    AllocationSection,
    CalibrationSection,
    CoefficientEntry,
    HeadSection,
    PumpControlSection,
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
from gateway.config.rules import CONFIG_RULES
from gateway.config.schema import GatewayConfig
from gateway.config.sections import AcquisitionSection, GatewaySection, WellSection
from gateway.config.store import StoreSection
from gateway.config.summary import summarize
from gateway.config.uplinks import HttpsUplink, MqttUplink, Uplink

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
