"""What a guided installation (`wellgate commission`) decides, written out: the site config, a
first poll of every device, and the registration bundle the platform needs to take this gateway.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.accounting.periods import local_zone
from gateway.acquisition import diagnostics as dx
from gateway.acquisition.poller import BusPoller, OfflinePolicy
from gateway.acquisition.service import make_transport, polled_devices
from gateway.config import GatewayConfig
from gateway.readings import MemorySink, Reading
from gateway.scan_report import BusChoice, bus_toml

REGISTRATION_FORMAT = "wellgate-registration/2"  # 2: a station address per centre


@dataclass
class Accounting:
    """The [well.accounting] an installer answers for: which meters, the pump's size."""

    flow_meter: str | None
    energy_meter: str | None
    level_sensor: str | None
    pump_capacity_m3h: float
    rated_power_kw: float
    annual_allocation_m3: float | None = None
    reference_device: str | None = None  # a temporary reference flow meter for calibration


@dataclass
class Site:
    """Everything the installer chose."""

    well_id: str
    timezone: str
    state_dir: str
    runtime_dir: str
    buses: list[BusChoice] = field(default_factory=list)
    accounting: Accounting | None = None
    centres: list[Any] = field(default_factory=list)  # commission_centres.Centre


def _text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def site_toml(site: Site, written_by: str) -> str:
    """The site config file's text."""
    lines = [f"# {written_by}", "", "[well]", f"id = {_text(site.well_id)}",
             f"timezone = {_text(site.timezone)}", "", "[gateway]",
             f"state_dir = {_text(site.state_dir)}", f"runtime_dir = {_text(site.runtime_dir)}",
             ""]
    for bus in site.buses:
        lines += bus_toml(bus)
    if site.accounting is not None:
        acc = site.accounting
        lines += ["# Water accounting: the flow meter's volume is the legal quantity; the "
                  "energy meter gives", "# 以电折水 once `wellgate calibrate` stores a "
                  "coefficient.", "[well.accounting]"]
        lines += [f"{key} = {_text(value)}" for key, value in (
            ("flow_meter", acc.flow_meter), ("energy_meter", acc.energy_meter),
            ("level_sensor", acc.level_sensor)) if value]
        lines += [f"pump_capacity_m3h = {acc.pump_capacity_m3h:g}",
                  f"rated_power_kw = {acc.rated_power_kw:g}", ""]
        if acc.annual_allocation_m3:
            lines += ["[well.accounting.allocation]",
                      f"annual_m3 = {acc.annual_allocation_m3:g}", ""]
        if acc.reference_device:
            lines += ["[well.accounting.calibration]  # `wellgate calibrate` compares with it",
                      f"reference_device = {_text(acc.reference_device)}", ""]
    if site.centres:
        from gateway.commission_centres import uplinks_toml

        lines += ["# The centres the well reports to (docs/centres.md); the passwords make this "
                  "file", "# secret: it is readable by its owner only (0600)."]
        lines += uplinks_toml(site.centres)
    return "\n".join(lines).rstrip() + "\n"


async def poll_once(config: GatewayConfig) -> tuple[list[Reading], dict[str, dx.DeviceHealth]]:
    """One poll of every device of the config, bus by bus: the readings and each device's
    health (requests, replies, last error)."""
    sink = MemorySink()
    board = dx.HealthBoard()
    healths: dict[str, dx.DeviceHealth] = {}
    readings: list[Reading] = []
    for bus in config.buses:
        devices = polled_devices(config, bus.name)
        transport = make_transport(bus, None)
        poller = BusPoller(bus.name, transport, devices, sink, board, OfflinePolicy())
        await transport.open()
        try:
            for device in devices:
                readings += await poller.poll(device)
                healths[device.name] = device.health
        finally:
            await transport.close()
    return readings, healths


def registration_bundle(config: GatewayConfig, config_file: Path, public_pem: str,
                        fingerprint: str) -> dict[str, Any]:
    """What the platform needs to take this gateway's batches: the well, the key that signs them,
    its fingerprint to read aloud, per centre (SL/T 427, SL 651) the station address its frames
    carry, and the meters it reports."""
    from gateway import __version__
    from gateway.commission_centres import registration_centres

    return {
        "format": REGISTRATION_FORMAT,
        "well_id": config.well.id,
        "well_name": config.well.name,
        "timezone": config.well.timezone,
        "public_key_pem": public_pem,
        "fingerprint": fingerprint,
        "centres": registration_centres(config, fingerprint),
        "devices": [{"name": d.name, "model": d.model, "bus": d.bus,
                     "role": config.effective_role(d)} for d in config.devices],
        "gateway_version": __version__,
        "config_file": str(config_file.resolve()),
        "created_at": datetime.now(local_zone(config.well.timezone)).isoformat(
            timespec="seconds"),
    }


def registration_text(bundle: dict[str, Any], grouped_fingerprint: str) -> str:
    """The bundle for a person: what to send to the platform and what to read aloud."""
    devices = "\n".join(f"  {d['name']}: {d['model']} ({d['role']}) on {d['bus']}"
                        for d in bundle["devices"])
    station = "\n".join(
        f"  {c['name']}: {c['protocol']} ({c['edition']}) at {c['centre']}: station address "
        f"{c['station_address']}, key fingerprint {c['fingerprint']}" for c in bundle["centres"]
    ) or "  (none configured: add [[uplinks]] when a centre assigns an address)"
    return (f"Registration of well {bundle['well_id']} (wellgate {bundle['gateway_version']}, "
            f"{bundle['created_at']})\n\n"
            f"Centres (the station address as each reads it in frames):\n{station}\n\n"
            f"Gateway public key (Ed25519):\n{bundle['public_key_pem'].rstrip()}\n\n"
            f"Fingerprint: {bundle['fingerprint']}\nRead aloud in groups:\n"
            f"{grouped_fingerprint}\n\nMeters:\n{devices}\n")


def write_bundle(bundle: dict[str, Any], text: str, folder: Path) -> tuple[Path, Path]:
    """registration-<well>.json and .txt in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"registration-{re.sub(r'[^A-Za-z0-9._-]', '_', bundle['well_id'])}"
    as_json, as_text = stem.with_suffix(".json"), stem.with_suffix(".txt")
    as_json.write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    as_text.write_text(text, encoding="utf-8")
    return as_json, as_text
