"""`wellgate scan`: find what answers on a bus, the common line settings and ids first.

The default sweep (DEFAULT_BAUDS x DEFAULT_PARITIES x DEFAULT_IDS) finishes within a minute on a
typical bus; `--full` sweeps every standard baud, N/E/O and ids 1-247. A DL/T 645 read-address
is asked first at each baud: a meter answering it makes the line a DL/T 645 line, and the Modbus
sweep is then left out (unless --full). Each id that stays silent is asked a second time, since
some slaves miss the frame that follows one meant for an absent id. How an answering device is
matched to a profile: gateway/scan_match.py. What is printed: gateway/scan_report.py.

Limits: a scan only finds a meter that answers a read of holding register 0 (with data or an
exception); a pty (the simulated well) cannot emulate parity, so there a meter answers at every
parity and a parity the port refuses is skipped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import termios
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import click

from drivers import modbus_rtu
from gateway.acquisition.transport import Dlt645Transport, ModbusTransport, TransactionFailed
from gateway.ports import busy_message
from gateway.profiles import STANDARD_BAUDS, Profile
from gateway.scan_match import (  # noqa: F401  (the names tests and callers use from here)
    IMPLAUSIBLE,
    NEUTRAL,
    PARITIES,
    PLAUSIBLE,
    Found,
    Match,
    best_matches,
    judge,
    modbus_profiles,
)

DEFAULT_BAUDS = (9600, 2400, 4800, 19200)  # meters' factory rates, most common first
DEFAULT_PARITIES = ("N", "E")
DEFAULT_IDS = "1-10"  # installers number a well's few meters from 1
FULL_IDS = "1-247"
ASKS_PER_SILENT_ID = 2


def parse_ids(text: str) -> list[int]:
    """'1-5,9' -> [1, 2, 3, 4, 5, 9]; each id must be 1..247."""
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"ids are numbers or ranges like 1-10, got {part!r}") from None
        if not (1 <= first <= last <= 247):
            raise ValueError(f"ids must be within 1..247 and ascending, got {part!r}")
        ids.extend(range(first, last + 1))
    if not ids:
        raise ValueError(f"no ids in {text!r}")
    return ids


def parse_bauds(text: str) -> list[int]:
    """'9600,2400' -> [9600, 2400]; each a standard rate (STANDARD_BAUDS)."""
    bauds = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if not part.isdigit() or int(part) not in STANDARD_BAUDS:
            raise ValueError(f"bauds are standard rates ({', '.join(map(str, STANDARD_BAUDS))}), "
                             f"got {part!r}")
        bauds.append(int(part))
    if not bauds:
        raise ValueError(f"no baud rates in {text!r}")
    return bauds


def parse_parities(text: str) -> list[str]:
    """'n,E' -> ['N', 'E']; each N, E or O."""
    parities = [p.strip().upper() for p in text.split(",") if p.strip()]
    wrong = [p for p in parities if p not in PARITIES]
    if wrong or not parities:
        raise ValueError(f"parities are {', '.join(PARITIES)} (none, even, odd), got {text!r}")
    return parities


def sweep_defaults(full: bool) -> dict[str, str]:
    """The bauds, parities and ids tried when not given: the common ones, or with `full` all."""
    return {"bauds": ",".join(map(str, STANDARD_BAUDS if full else DEFAULT_BAUDS)),
            "parities": ",".join(PARITIES if full else DEFAULT_PARITIES),
            "ids": FULL_IDS if full else DEFAULT_IDS}


def default_timeout(baud: int) -> float:
    """Wait for a short reply plus a slow meter's turnaround."""
    return 0.1 + 30 * modbus_rtu.char_time(baud)


class Progress:
    """A progress bar on stderr naming what is being tried; silent when `show` is False."""

    def __init__(self, length: int, label: str, show: bool) -> None:
        self._bar: Any = None
        if show:
            self._bar = click.progressbar(length=length, label=label, file=sys.stderr,
                                          item_show_func=lambda text: text, show_eta=True)
            self._bar.__enter__()

    def step(self, what: str, steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(steps, what)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Hide a module's warnings while the scan tries settings a port may refuse."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


async def open_modbus(port: str, baud: int, parity: str, timeout: float,
                       notes: list[str]) -> ModbusTransport | None:
    """An open transport; None (with a note) if the port refuses this parity; ClickException if
    it cannot be opened at all."""
    def make(with_parity: str) -> ModbusTransport:
        return ModbusTransport.serial(port, baud, with_parity, 1, 8, timeout,
                                      modbus_rtu.silent_interval(baud))

    async def opened(transport: ModbusTransport) -> bool:
        try:  # pyserial raises termios.error where the port refuses a setting; pymodbus passes it
            with _quiet("gateway.acquisition.transport"):
                return await transport.open()
        except termios.error:
            return False

    transport = make(parity)
    if await opened(transport):
        return transport
    await transport.close()
    if parity != "N":
        plain = make("N")
        plain_opens = await opened(plain)
        await plain.close()
        if plain_opens:
            notes.append(f"skipped parity {parity}: {port} refuses it (a pty cannot do parity)")
            return None
    raise click.ClickException(f"cannot open {port} at {baud} 8{parity}1"
                               f"{busy_message(port) or ''}")


async def ask_id(transport: ModbusTransport, slave: int,
                 asks: int = ASKS_PER_SILENT_ID) -> str | None:
    """"reply", the exception it answered with, or None when the id stayed silent `asks` times."""
    for _ in range(asks):
        try:
            await transport.read(slave, 3, 0, 1)
            return "reply"
        except TransactionFailed as failure:
            if failure.answered:
                return failure.detail
    return None


async def _scan_modbus(port: str, baud: int, parity: str, ids: list[int], timeout: float,
                       profiles: dict[str, Profile], progress: Progress,
                       notes: list[str]) -> list[Found]:
    transport = await open_modbus(port, baud, parity, timeout, notes)
    if transport is None:
        progress.step(f"{baud} 8{parity}1 skipped", len(ids))
        return []
    found = []
    try:
        for slave in ids:
            progress.step(f"{baud} 8{parity}1 id {slave}")
            answer = await ask_id(transport, slave)
            if answer is None:
                continue
            hit = Found("modbus", baud, parity, slave_id=slave, answer=answer)
            hit.matches = await best_matches(transport, slave, profiles)
            found.append(hit)
    finally:
        await transport.close()
    return found


async def scan_dlt645(port: str, baud: int, timeout: float) -> Found | None:
    """Broadcast read-address at `baud`, 8E1 (or 8N1 where the port refuses parity E)."""
    note = ""
    for parity in ("E", "N"):
        transport = Dlt645Transport(port, baud, parity, 1, 8, timeout,
                                    modbus_rtu.silent_interval(baud))
        with _quiet("gateway.acquisition.transport"):
            if await transport.open():
                break
        note = f"{port} refuses parity E (a pty cannot do parity): asked at 8N1"
    else:
        raise click.ClickException(f"cannot open {port} at {baud} baud{busy_message(port) or ''}")
    try:
        address = await transport.read_address()
    except TransactionFailed:
        return None
    finally:
        await transport.close()
    return Found("dlt645", baud, "E", address=address, answer="reply",
                 matches=[Match("dlt645-generic", 1, 1, 0, 1, 1)], note=note)


async def sweep(port: str, bauds: list[int], parities: list[str], ids: list[int],
                timeout: float | None, dlt645: bool, full: bool,
                progress: Progress) -> tuple[list[Found], list[str]]:
    """Everything that answered on `port`, and notes on what was skipped and why."""
    notes: list[str] = []
    found: list[Found] = []
    if dlt645:
        for baud in bauds:
            progress.step(f"{baud} DL/T 645 read-address")
            hit = await scan_dlt645(port, baud, (timeout or default_timeout(baud)) + 0.2)
            if hit:
                found.append(hit)
    if found and not full:
        notes.append(f"a DL/T 645 meter answered, so {port} is a DL/T 645 line: the Modbus "
                     "sweep was left out (--full sweeps it too)")
        return found, notes
    profiles = modbus_profiles()
    for baud in bauds:
        for parity in parities:
            found += await _scan_modbus(port, baud, parity, ids, timeout or default_timeout(baud),
                                        profiles, progress, notes)
    return found, notes


async def run_scan(port: str, bauds: list[int], parities: list[str], ids: list[int],
                   timeout: float | None, dlt645: bool, as_json: bool, *, full: bool = False,
                   bus_name: str = "rs485-1", show_progress: bool | None = None) -> int:
    """Sweep the bus and print what answered; exit status 0 if anything answered, 1 if not."""
    from gateway.scan_report import describe, snippet

    held = busy_message(port)
    if held:
        raise click.ClickException(f"{port} is in use{held}")
    if show_progress is None:
        show_progress = not as_json and sys.stderr.isatty()
    length = len(bauds) * len(parities) * len(ids) + (len(bauds) if dlt645 else 0)
    progress = Progress(length, f"scanning {port}", show_progress)
    started = time.monotonic()
    try:
        found, notes = await sweep(port, bauds, parities, ids, timeout, dlt645, full, progress)
    finally:
        progress.close()
    if as_json:
        click.echo(json.dumps([asdict(f) for f in found], indent=2))
        return 0 if found else 1
    click.echo(f"scanned {port} in {time.monotonic() - started:.1f} s: "
               f"{', '.join(map(str, bauds))} baud x {', '.join(f'8{p}1' for p in parities)} "
               f"x ids {_ranges(ids)}{' and DL/T 645 read-address' if dlt645 else ''}", err=True)
    for note in dict.fromkeys([*notes, *(f.note for f in found if f.note)]):
        click.echo(f"note: {note}", err=True)
    if not found:
        click.echo("nothing answered; check wiring (A/B swapped?), termination and power, then "
                   "try `--full` (every baud, parity and id)", err=True)
        return 1
    for hit in found:
        click.echo(describe(hit))
    click.echo("\n# paste into the site config, then run: wellgate check-config <site.toml>")
    click.echo(snippet(found, port, bus_name))
    return 0


def _ranges(ids: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    runs: list[list[int]] = []
    for slave in ids:
        if runs and slave == runs[-1][1] + 1:
            runs[-1][1] = slave
        else:
            runs.append([slave, slave])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)
