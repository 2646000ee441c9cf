"""A centre link (SL/T 427 or SL 651) made from its [[uplinks]] settings and the site config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.config import GatewayConfig, Sl427Uplink, Sl651Uplink
from gateway.store import DB_FILE
from gateway.store.records import NewRecord
from gateway.uplink.centre_commands import CentreClock, CommandDesk
from gateway.uplink.centre_link import CentreLink, LinkSettings
from gateway.uplink.centre_reports import Mapping, ReportReader
from gateway.uplink.centre_sl427 import Sl427Speaker
from gateway.uplink.centre_sl651 import Sl651Speaker

CENTRE_TYPES = ("sl427", "sl651")
DEFAULT_GRACE = 1.0  # s, when no mapped device's polling period is known


def grace_of(config: GatewayConfig, uplink: Sl427Uplink | Sl651Uplink) -> float:
    """Half the shortest polling period of the mapped devices, at most half a report period."""
    polls = [device.poll_interval for device in config.devices
             if any(where.split("/", 1)[0] == device.name
                    for where in uplink.points.mapped().values())]
    half_poll = min(polls) / 2 if polls else DEFAULT_GRACE
    return min(half_poll, uplink.report_period / 2)


def mapping_of(config: GatewayConfig, uplink: Sl427Uplink | Sl651Uplink) -> Mapping:
    return Mapping(uplink.points.mapped(), uplink.report_period, grace_of(config, uplink),
                   uplink.pump_running_kw)


def centre_link(config: GatewayConfig, uplink: Sl427Uplink | Sl651Uplink, state_dir: Path,
                submit: Callable[[NewRecord], None] | None = None,
                frame_log: Callable[[str, bytes], None] | None = None) -> CentreLink:
    """The link of one sl427/sl651 uplink over the store in `state_dir`; `submit` takes the
    command records (StoreSink.append_record), `frame_log` sees every frame ("up"/"down")."""
    db_path = Path(state_dir) / DB_FILE
    zone = ZoneInfo(config.well.timezone)
    flow = uplink.points.flow or uplink.points.volume
    flow_device = flow.split("/", 1)[0] if flow else None
    speaker: Sl427Speaker | Sl651Speaker
    if isinstance(uplink, Sl427Uplink):
        speaker = Sl427Speaker(uplink, zone, flow_device)
    else:
        speaker = Sl651Speaker(uplink, zone, flow_device)
    reader = ReportReader(db_path, mapping_of(config, uplink))
    clock = CentreClock(uplink.clock_from_centre, uplink.name)
    desk = CommandDesk(uplink.name, ReportReader(db_path, mapping_of(config, uplink)), clock,
                       submit, uplink.remote_pump)
    settings = LinkSettings(uplink.host, uplink.port, uplink.keepalive_period,
                            uplink.ack_timeout, uplink.max_resends, uplink.connect_timeout,
                            uplink.backoff_initial, uplink.backoff_max)
    return CentreLink(uplink.name, speaker, reader, db_path, settings, desk, clock, frame_log)
