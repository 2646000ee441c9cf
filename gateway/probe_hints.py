"""What to try when `wellgate probe` gets no good reply: a short look around the bus (other ids
at the bus's settings, the device's id at the other common settings) and what it suggests."""

from __future__ import annotations

import click

from gateway.acquisition import diagnostics as dx
from gateway.config.buses import Bus, Device
from gateway.scan import (
    DEFAULT_BAUDS,
    DEFAULT_PARITIES,
    ask_id,
    default_timeout,
    open_modbus,
    scan_dlt645,
)

NEARBY_IDS = range(1, 11)  # installers number a well's meters from 1


async def _answering(port: str, baud: int, parity: str, ids: list[int]) -> list[int] | None:
    """The ids of `ids` that answer at baud/parity (asked once each); None: the port refuses
    this setting."""
    try:
        transport = await open_modbus(port, baud, parity, default_timeout(baud), [])
    except click.ClickException:
        return None
    if transport is None:
        return None
    try:
        return [slave for slave in ids if await ask_id(transport, slave, asks=1) is not None]
    finally:
        await transport.close()


async def _rtu_hints(bus: Bus, device: Device, port: str) -> list[str]:
    slave, here = device.slave_id, bus.line()
    assert slave is not None
    others = [i for i in NEARBY_IDS if i != slave]
    nearby = await _answering(port, bus.baud, bus.parity, others) or []
    elsewhere = []
    for baud in DEFAULT_BAUDS:
        for parity in DEFAULT_PARITIES:
            if (baud, parity) != (bus.baud, bus.parity) and await _answering(
                    port, baud, parity, [slave]):
                elsewhere.append(f"{baud} 8{parity}1")
    if elsewhere:
        return [f"id {slave} answers at {' and '.join(elsewhere)}, not at {here}: set bus "
                f"{bus.name}'s baud and parity to the meter's in the config (or the meter's to "
                f"{here})"]
    if nearby:
        return [f"nothing answers id {slave} at {here}, but id(s) {', '.join(map(str, nearby))} "
                f"do: is the meter's id one of them (its menu or nameplate)? `wellgate scan "
                f"--port {port}` says which model each is"]
    return [f"nothing answers at {', '.join(map(str, DEFAULT_BAUDS))} baud on {port}: check the "
            "meter's power, the A/B wires (swap them), termination, and that this is the right "
            f"adapter; `wellgate scan --port {port} --full` tries every setting and id"]


async def _dlt645_hints(bus: Bus, device: Device, port: str) -> list[str]:
    for baud in DEFAULT_BAUDS:
        hit = await scan_dlt645(port, baud, default_timeout(baud) + 0.2)
        if hit is None:
            continue
        if hit.address != device.address:
            return [f"a DL/T 645 meter answers with address {hit.address} at {baud} baud: is "
                    f"that the meter's address (the config says {device.address})?"]
        return [f"the meter answers at {baud} baud, the config says {bus.baud}: set bus "
                f"{bus.name}'s baud to {baud}"]
    return [f"no DL/T 645 meter answers read-address on {port}: check power, the A/B wires, "
            "and that this is the right adapter"]


async def hints(bus: Bus, device: Device, port: str, health: dx.DeviceHealth) -> list[str]:
    """What the failed probe suggests trying, most likely first."""
    if health.good_replies:
        return []
    if health.crc_errors or health.malformed:
        return ["replies arrive damaged (bad CRC or length): check termination (120 Ω at both "
                "ends), the cable's length and screen, and that no two meters share an id"]
    if health.exception_replies:
        return [f"the meter refuses the read ({health.last_error}): is model {device.model} the "
                "right profile? `wellgate scan` matches profiles to what it answers"]
    if bus.type == "tcp":
        return [f"no reply from {port}: check the address, that the converter's TCP port is "
                "the one configured, and the unit id"]
    if health.timeouts == 0:  # it could not be asked at all
        return [f"{port} does not open ({health.last_error or 'no reason given'}): is the adapter "
                "plugged in and the name right (ls /dev/serial/by-id/)? may this user use it "
                "(group dialout)?"]
    if bus.type == "dlt645":
        return await _dlt645_hints(bus, device, port)
    return await _rtu_hints(bus, device, port)
