"""`wellgate platform center` and `center-report`: the SL/T 427 / SL 651 centre simulator."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import click

from gateway.cli.errors import CommandError
from gateway.cli.options import json_option, setup_logging, verbose_option

EDITIONS = {"2021": "SL/T 427-2021", "2016": "SZY206-2016"}


def _password(protocol: str, text: str | None) -> tuple[int, int] | int | None:
    """--password: 4 hex digits; SL 651 the header's word, SL/T 427 key 1 then key 2 (BCD)."""
    if text is None:
        return (0, 0) if protocol == "sl427" else None
    valid = len(text) == 4 and all(char in "0123456789abcdefABCDEF" for char in text)
    if protocol == "sl427" and not (valid and text.isdigit()):
        raise CommandError(f"--password {text!r}: SL/T 427 expects 4 digits, key 1 then the "
                           "3 digits of key 2, e.g. 1234 (key 1 = 1, key 2 = 234)")
    if not valid:
        raise CommandError(f"--password {text!r}: SL 651 expects 4 hex digits, e.g. 1234")
    if protocol == "sl427":
        return int(text[0]), int(text[1:])
    return int(text, 16)


@click.command("center")
@click.option("--protocol", type=click.Choice(["sl427", "sl651"]), required=True,
              help="SL/T 427-2021 (or SZY206-2016 with --edition 2016), or SL 651-2014 HEX.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="TCP port to accept stations on; 0 = the kernel chooses (see the ready line).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--db", "db_file", type=click.Path(dir_okay=False), default="centre.db",
              show_default=True, help="SQLite file for reports, frames and commands.")
@click.option("--edition", type=click.Choice(sorted(EDITIONS)), default="2021",
              show_default=True, help="SL/T 427 only: 2021 (7-byte Tp) or SZY206-2016 (5-byte).")
@click.option("--word-order", type=click.Choice(["little", "big"]), default="little",
              show_default=True, help="SL/T 427 only: byte order of the alarm and status words.")
@click.option("--centre-address", type=click.IntRange(1, 255), default=1, show_default=True,
              help="SL 651 only: this centre's address; frames for another are refused.")
@click.option("--password", default=None,
              help="4 digits: SL 651 the stations' password (checked when given); SL/T 427 the "
                   "PW sent with commands that change something (default 0000).")
@click.option("--reply-end", type=click.Choice(["eot", "esc"]), default="eot", show_default=True,
              help="SL 651 only: end byte of the reply to a report (ESC keeps the link up).")
@click.option("--utc-offset", type=click.FloatRange(-12, 14), default=8.0, show_default=True,
              help="Hours the centre's clock (acks' Tp, send times, staleness) is ahead of UTC; "
                   "8 = Beijing time.")
@click.option("--fault", "faults", multiple=True, metavar="KIND[:COUNT]",
              help="Start with a fault: no_ack, late_ack, nak (SL 651), drop, garbage; COUNT "
                   "frames, else until cleared. Repeatable.")
@click.option("--ack-delay", type=click.FloatRange(0, 600, min_open=True), default=3.0,
              show_default=True, help="Seconds a late_ack fault holds the acknowledgement.")
@verbose_option
def center(protocol: str, port: int, host: str, db_file: str, edition: str, word_order: str,
           centre_address: int, password: str | None, reply_end: str, utc_offset: float,
           faults: tuple[str, ...], ack_delay: float, verbose: int) -> None:
    """Simulate a water-resources centre station that stations (gateways) report to over TCP.

    Every frame is checked with the drivers' codecs and logged; reports are stored in --db;
    acknowledgements follow the standard unless a fault says otherwise. Prints a JSON ready line
    with the port, then takes JSON commands on stdin (faults, commands to a station, stop).

    \b
    Examples:
      wellgate platform center --protocol sl427 --port 0 --db centre.db
      wellgate platform center --protocol sl651 --port 5001 --fault no_ack:2

    \b
    Control lines on stdin (one JSON object each, one JSON answer line each):
      {"cmd": "fault", "fault": "no_ack|late_ack|nak|drop|garbage", "count": 1,
       "delay": 3, "station": "530381/13"}   {"cmd": "clear"}   {"cmd": "faults"}
      {"cmd": "send", "station": "530381/13", "command": "query_clock|query_realtime|
       query_status|set_clock|pump_start|pump_stop", "args": {"pump": 1}, "timeout": 5}
      {"cmd": "stations"}   {"cmd": "reports"}   {"cmd": "stats"}   {"cmd": "stop"}
    docs/centres.md has the rest.
    """
    from gateway.platform.centre.control import serve
    from gateway.platform.centre.faults import FaultError, parse_fault_option
    from gateway.platform.centre.frames import clock_at
    from gateway.platform.centre.sl427_side import Sl427Side
    from gateway.platform.centre.sl651_side import Sl651Side

    setup_logging(verbose)
    try:
        parsed_faults = [parse_fault_option(text) for text in faults]
        if protocol == "sl427" and any(kind == "nak" for kind, _ in parsed_faults):
            raise FaultError("--fault nak: SL/T 427 defines no negative acknowledgement frame; "
                             "use no_ack")
    except FaultError as exc:
        raise CommandError(str(exc)) from None
    secret = _password(protocol, password)
    clock = clock_at(utc_offset)
    if protocol == "sl427":
        side = Sl427Side(EDITIONS[edition], word_order, secret, clock)  # type: ignore[arg-type]
    else:
        side = Sl651Side(centre_address, secret, reply_end, clock)  # type: ignore[arg-type]
    try:
        asyncio.run(serve(side, db_file, host=host, port=port, faults=parsed_faults,
                          ack_delay=ack_delay))
    except sqlite3.Error as exc:
        raise CommandError(f"--db {db_file}: cannot open it as SQLite: {exc}") from None
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                           exit_code=1) from None


@click.command("center-report")
@click.option("--db", "db_file", type=click.Path(dir_okay=False), required=True,
              help="The centre simulator's SQLite file.")
@click.option("--station", default=None, help="Only this station (SL/T 427: county/number).")
@json_option
def center_report(db_file: str, station: str | None, as_json: bool) -> None:
    """What the centre simulator received: reports per station, duplicates, refused frames.

    \b
    Examples:
      wellgate platform center-report --db centre.db
      wellgate platform center-report --db centre.db --station 530381/13 --json
    """
    from gateway.platform.centre.db import CentreDb

    try:
        db = CentreDb(db_file, create=False)
    except FileNotFoundError as exc:
        raise CommandError(f"{exc}: has the simulator run (wellgate platform center)?",
                           exit_code=1) from None
    with db:
        if as_json:
            click.echo(json.dumps({"reports": db.reports(station), "commands":
                                   db.commands(station),
                                   "refused": db.frames(verdict="refused")},
                                  indent=2, ensure_ascii=False))
            return
        summary = [row for row in db.summary() if station in (None, row["station"])]
        if not summary:
            click.echo("no reports")
        for row in summary:
            click.echo(f"{row['station']}: {row['reports']} reports ({row['duplicates']} "
                       f"duplicates), observed {row['first_observed']} .. "
                       f"{row['last_observed']}, {row['refused']} frames refused")
        refused = len(db.frames(verdict="refused"))
        click.echo(f"frames refused in all: {refused}")


COMMANDS = (center, center_report)
