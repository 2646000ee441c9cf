"""The [well.pump_control] table: 以电控水, off unless enabled (its rules: accounting_rules)."""

from pydantic import Field

from gateway.config.fields import Section, bounded, seconds


class PumpControlSection(Section):
    """以电控水: stop the pump through a relay (a Modbus coil) when the allocation is used up.

    Off unless enabled = true; with dry_run = true (the default) the gateway only records what
    it would do. It never acts on a meter fault alone, and a site override suspends it."""

    enabled: bool = Field(default=False, description="true or false (default false: never acts)")
    dry_run: bool = Field(
        default=True, description="true (only record what would be done) or false (switch the "
        "relay)",
    )
    relay_device: str | None = Field(
        default=None, min_length=1, description="the device (role relay) whose coil stops the pump"
    )
    coil: int = bounded("the coil's wire address", 0, ge=0, le=0xFFFF, sep=" ")
    coil_stops_pump: bool = Field(
        default=True, description="true: coil ON stops the pump; false: coil OFF stops it"
    )
    confirm_within_s: float = seconds(60.0, 1, 3600, "how long the pump's power may take to fall")
    stopped_power_kw: float = Field(
        default=0.5, ge=0, le=100_000, description="kW at or below which the pump has stopped"
    )
