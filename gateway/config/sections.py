"""The small top-level tables: [gateway] (where files go), [well] and [acquisition]."""

import zoneinfo
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field

from gateway.config.fields import Section, bounded, table
from gateway.config.lazy import lazy
from gateway.config.pump_control import PumpControlSection

if TYPE_CHECKING:
    from gateway.config.accounting import AccountingSection

    AccountingTable = AccountingSection | None
else:  # imported and built only for a config that has the table
    AccountingTable = lazy("gateway.config.accounting:AccountingSection", nullable=True)


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (ValueError, OSError, zoneinfo.ZoneInfoNotFoundError):  # OSError: a name too long
        raise ValueError("an IANA time zone name, e.g. \"Asia/Shanghai\"") from None
    return value


class GatewaySection(Section):
    """Where the running gateway keeps its files, and how it logs."""

    runtime_dir: str = Field(
        default="/run/wellgate", min_length=1,
        description='a folder for the health snapshot (tmpfs under systemd), e.g. "/run/wellgate"',
    )
    state_dir: str = Field(
        default="/var/lib/wellgate", min_length=1,
        description='a folder on persistent storage for the signed store (wellgate.db) and the '
        'gateway key (gateway.key, made by `wellgate init`), e.g. "/var/lib/wellgate"',
    )
    log_summary_s: float = bounded(
        "seconds: a device or uplink that changes state again within this many seconds has "
        "its changes summarised in one log line a period", 60.0, ge=1, le=86400)


class WellSection(Section):
    """The well this gateway meters."""

    id: str = Field(min_length=1, description='the well\'s id at the platform, e.g. "150602-0017"')
    name: str = Field(default="", description="a display name")
    timezone: Annotated[str, AfterValidator(_time_zone)] = Field(
        default="Asia/Shanghai", description='an IANA time zone name, e.g. "Asia/Shanghai"'
    )
    accounting: AccountingTable = Field(
        default=None, description="a [well.accounting] table (none: readings are stored, "
        "no volumes are worked out)",
    )
    pump_control: PumpControlSection = table("a [well.pump_control] table (default: off)")


class AcquisitionSection(Section):
    """When a device counts as offline, and how often an offline device is retried."""

    offline_after: int = bounded("failed polls in a row", 3, ge=1, le=1000)
    backoff_initial: float = bounded("seconds", 5.0, gt=0, le=3600)
    backoff_max: float = bounded("seconds", 300.0, gt=0, le=86400)

