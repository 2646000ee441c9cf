"""`wellgate scan`: find what answers on a bus (baud x parity x id, DL/T 645) and match profiles."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field

import click

from drivers import modbus_rtu
from gateway.acquisition.plan import plan_reads
from gateway.acquisition.transport import Dlt645Transport, ModbusTransport, TransactionFailed
from gateway.display import table
from gateway.profiles import available_profiles, load_profile_file


@dataclass
class Found:
    """One device that answered, and the profiles that fit it best."""

    protocol: str
    baud: int
    parity: str
    slave_id: int | None = None
    address: str | None = None
    answer: str = ""  # "reply" or the exception it sent
    matches: list[tuple[str, float]] = field(default_factory=list)  # (profile, score 0..1)


def parse_ids(text: str) -> list[int]:
    """'1-5,9' -> [1, 2, 3, 4, 5, 9]; each id must be 1..247."""
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if not (1 <= first <= last <= 247):
            raise ValueError(f"ids must be within 1..247 and ascending, got {part!r}")
        ids.extend(range(first, last + 1))
    if not ids:
        raise ValueError(f"no ids in {text!r}")
    return ids


def default_timeout(baud: int) -> float:
    """Wait for a short reply plus a slow meter's turnaround."""
    return 0.1 + 30 * modbus_rtu.char_time(baud)


async def _matches(transport: ModbusTransport, slave: int) -> list[tuple[str, float]]:
    """Score each Modbus profile by the share of its reads that come back with usable values."""
    scores = []
    for name, path in sorted(available_profiles().items()):
        profile = load_profile_file(path)
        if profile.model.protocol != "modbus":
            continue
        blocks = plan_reads(list(profile.points), profile.defaults.max_registers_per_request,
                            profile.defaults.max_gap)
        good = 0
        for block in blocks:
            try:
                values = await transport.read(slave, block.function, block.address, block.count)
            except TransactionFailed:
                continue
            if _plausible(block, values):
                good += 1
        if good:
            scores.append((name, round(good / len(blocks), 2)))
    scores.sort(key=lambda item: -item[1])
    return scores[:3]


def _plausible(block, values: list[int]) -> bool:
    """A float register that decodes to NaN/inf or an absurd size suggests another map."""
    from drivers import registers

    for point in block.points:
        try:
            value = registers.decode(block.slice_for(point, values), point.type, point.order)
        except ValueError:
            return False
        if isinstance(value, float) and (not math.isfinite(value) or abs(value) > 1e12):
            return False
    return True


async def _scan_modbus(port: str, baud: int, parity: str, ids: list[int], timeout: float,
                       bar) -> list[Found]:
    transport = ModbusTransport.serial(port, baud, parity, 1, 8, timeout,
                                       modbus_rtu.silent_interval(baud))
    found = []
    if not await transport.open():
        raise click.ClickException(f"cannot open {port}")
    try:
        for slave in ids:
            bar.update(1)
            try:
                await transport.read(slave, 3, 0, 1)
                answer = "reply"
            except TransactionFailed as failure:
                if not failure.answered:
                    continue
                answer = failure.detail
            hit = Found("modbus", baud, parity, slave_id=slave, answer=answer)
            hit.matches = await _matches(transport, slave)
            found.append(hit)
    finally:
        await transport.close()
    return found


async def _scan_dlt645(port: str, baud: int, timeout: float) -> Found | None:
    transport = Dlt645Transport(port, baud, "E", 1, 8, timeout, modbus_rtu.silent_interval(baud))
    try:
        address = await transport.read_address()
    except TransactionFailed:
        return None
    finally:
        await transport.close()
    return Found("dlt645", baud, "E", address=address, answer="reply",
                 matches=[("dlt645-generic", 1.0)])


async def run_scan(port: str, bauds: list[int], parities: list[str], ids: list[int],
                   timeout: float | None, dlt645: bool, as_json: bool) -> int:
    """Sweep the bus; exit status 0 if anything answered, 1 if nothing did."""
    combos = [(b, p) for b in bauds for p in parities]
    found: list[Found] = []
    with click.progressbar(length=len(combos) * len(ids) + (len(bauds) if dlt645 else 0),
                           label=f"scanning {port}", file=sys.stderr) as bar:
        for baud, parity in combos:
            found += await _scan_modbus(port, baud, parity, ids, timeout or default_timeout(baud),
                                        bar)
        if dlt645:
            for baud in bauds:
                bar.update(1)
                hit = await _scan_dlt645(port, baud, (timeout or default_timeout(baud)) + 0.2)
                if hit:
                    found.append(hit)
    if as_json:
        click.echo(json.dumps([asdict(f) for f in found], indent=2))
    elif found:
        click.echo(table(
            ("protocol", "baud", "parity", "id / address", "answer", "best profiles"),
            [(f.protocol, f.baud, f.parity, f.slave_id or f.address, f.answer[:30],
              ", ".join(f"{n} ({s:.0%})" for n, s in f.matches) or "none fits")
             for f in found]))
    else:
        click.echo("nothing answered; check wiring (A/B swapped?), termination and power", err=True)
    return 0 if found else 1
