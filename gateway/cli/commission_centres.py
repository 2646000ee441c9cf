"""`wellgate commission`'s centres step: the water-resources centres the well reports to
(SL/T 427, SL 651), asked for or taken from `--centre`, the password never shown."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from gateway.cli.errors import CommandError


def _checked(pattern: str, what: str, convert: Any = str) -> Any:
    """A value_proc: the typed text if it matches, else BadParameter saying what is expected."""

    def check(text: str) -> Any:
        text = str(text).strip()
        if not re.fullmatch(pattern, text):
            raise click.BadParameter(f"{text!r}: expected {what}")
        return convert(text)

    return check


def _where(text: str) -> tuple[str, int]:
    host, _, port = str(text).strip().rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise click.BadParameter(f"{text!r}: expected HOST:PORT, e.g. centre.example:6001")
    return host, int(port)


def _station(text: str) -> int:
    number = _checked(r"[0-9]{1,5}", "the station number, 1..60000", int)(text)
    if not 1 <= number <= 60_000:
        raise click.BadParameter(f"{number}: expected the station number, 1..60000")
    return number


def _password(protocol: str, name: str) -> str:
    from gateway.commission_centres import check_password, read_password_file

    path = click.prompt(f"Password file of {name} (empty: type the password, not shown)",
                        default="", show_default=False).strip()
    while True:
        try:
            if path:
                return read_password_file(protocol, Path(path))
            typed = click.prompt(f"Password of {name} (not shown; empty: 0000)", default="",
                                 show_default=False, hide_input=True).strip() or "0000"
            return check_password(protocol, typed, "typed")
        except ValueError as exc:
            click.echo(f"Error: {exc}")
            path = ""


def _ask_centre(ask: Any, number: int, taken: set[str]) -> Any:
    from gateway.commission_centres import PROTOCOLS, Centre
    from gateway.config.centres import EDITIONS, SL651_CLASSES
    from gateway.config.fields import NAME_PATTERN

    protocol = ask(f"Protocol of centre {number}", default="sl427",
                   type=click.Choice(PROTOCOLS))
    name = ask(f"Name for centre {number}", default=f"centre-{number}",
               value_proc=_checked(NAME_PATTERN, "a name: letters, digits and . _ - (up to 64)"))
    while name in taken:
        name = ask(f"{name!r} is taken; another name", default=f"{name}-2")
    host, port = ask(f"Host:port of {name}'s centre station", value_proc=_where)
    if protocol == "sl427":
        fields = {"county": ask("County code of the station (6 digits, GB/T 2260)",
                                value_proc=_checked(r"[0-9]{6}", "6 digits, e.g. 150602")),
                  "station": ask("Station number at that county (1..60000)",
                                 value_proc=_station),
                  "edition": ask("Edition the centre speaks", default=EDITIONS[0],
                                 type=click.Choice(EDITIONS))}
    else:
        fields = {"station": ask("Station address (10 digits)", value_proc=_checked(
                      r"[0-9]{10}", "10 digits, e.g. 0012345678")),
                  "centre_address": ask("The centre's address (1..255)", default=1,
                                        type=click.IntRange(1, 255)),
                  "station_class": ask("Station class", default=next(iter(SL651_CLASSES)),
                                       type=click.Choice(list(SL651_CLASSES)))}
    return Centre(name, protocol, host, port, fields, password=_password(protocol, name))


def _report_points(buses: list[Any], accounting: Any) -> dict[str, str]:
    from gateway.commission_centres import report_points
    from gateway.profiles import available_profiles, load_profile_file
    from gateway.scan_report import profile_roles

    roles, files = profile_roles(), available_profiles()
    devices = {d.name: roles.get(d.model, "") for bus in buses for d in bus.devices}
    points_of = {d.name: [p.name for p in load_profile_file(files[d.model]).points]
                 for bus in buses for d in bus.devices if d.model in files}
    chosen = {} if accounting is None else {"flow": accounting.flow_meter, "energy":
                                            accounting.energy_meter,
                                            "level": accounting.level_sensor}
    return report_points(devices, chosen, points_of)


def parse_centres(specs: tuple[str, ...]) -> list[Any]:
    """The centres of the `--centre` flags (read before anything is scanned or written)."""
    from gateway.commission_centres import parse_spec
    from gateway.config.centres import MAX_CENTRES

    if len(specs) > MAX_CENTRES:
        raise click.UsageError(f"--centre: at most {MAX_CENTRES} centres ({len(specs)} given)")
    try:
        return [parse_spec(spec, number) for number, spec in enumerate(specs, 1)]
    except ValueError as exc:
        raise click.UsageError(f"--centre {exc}") from None


def ask_centres(ask: Any, buses: list[Any], accounting: Any, given: list[Any]) -> list[Any]:
    """The centres given as `--centre`, else (at a terminal) asked one by one."""
    from gateway.config.centres import MAX_CENTRES

    centres = list(given)
    if not given and not ask.yes and ask.confirm(
            "Does the well report to a water-resources centre (SL/T 427 or SL 651)?", False):
        taken: set[str] = set()
        while len(centres) < MAX_CENTRES:
            centres.append(_ask_centre(ask, len(centres) + 1, taken))
            taken.add(centres[-1].name)
            if not ask.confirm("Another centre?", False):
                break
    if not centres:
        click.echo("no centre: add [[uplinks]] later (docs/centres.md)")
        return centres
    points = _report_points(buses, accounting)
    if not set(points) - {"pump_power"}:
        raise CommandError("no flow meter, energy meter or level sensor: nothing a centre's "
                           "report carries")
    for centre in centres:
        centre.points = points
        try:
            centre.settings()
        except ValueError as exc:
            raise CommandError(f"centre {centre.name}: {exc}") from None
        click.echo(f"centre {centre.name}: {centre.protocol} at {centre.host}:{centre.port}, "
                   f"reports {', '.join(f'{k} = {v}' for k, v in points.items())}")
    return centres
