"""The centres a commissioned well reports to (`[[uplinks]]` of type sl427 / sl651): what the
installer answered, the tables written for them, and each one's station address as the centre
reads it in the frames the uplink sends.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.config.centres import EDITIONS, SL651_CLASSES, Sl427Uplink, Sl651Uplink

PROTOCOLS = ("sl427", "sl651")
PASSWORD_RULES = {"sl427": (r"[0-9]{4}", "4 digits (key 1, then key 2)"),
                  "sl651": (r"[0-9A-Fa-f]{4}", "4 hex digits")}
# element -> (the device's role, the point every profile of that role names it by)
ELEMENT_POINTS = (("flow", "flow", "flow_rate"), ("volume", "flow", "forward_total"),
                  ("energy", "energy", "import_energy"), ("water_level", "level", "level"),
                  ("pump_power", "energy", "active_power"))
PERIODS = ("report_period", "keepalive_period")
SPEC_KEYS = {"sl427": ("name", "county", "station", "edition", "password-file", *PERIODS),
             "sl651": ("name", "station", "centre_address", "station_class", "password-file",
                       *PERIODS)}
SPEC_TEXT = ('"sl427,HOST:PORT,county=530381,station=13[,edition=SZY206-2016]" or "sl651,'
             'HOST:PORT,station=0012345678[,centre_address=1][,station_class=groundwater]", '
             "each with [,name=N][,password-file=F][,report_period=S][,keepalive_period=S]")


@dataclass
class Centre:
    """One centre as answered: protocol, where it listens, its station address fields, the
    password (never shown) and the points its reports carry."""

    name: str
    protocol: str
    host: str
    port: int
    fields: dict[str, Any]
    points: dict[str, str] = field(default_factory=dict)
    password: str = field(default="0000", repr=False)

    def settings(self) -> Sl427Uplink | Sl651Uplink:
        """The uplink's settings as the config will load them (ValueError naming what is
        wrong, the password never in it)."""
        model = Sl427Uplink if self.protocol == "sl427" else Sl651Uplink
        table = {"name": self.name, "type": self.protocol, "host": self.host, "port": self.port,
                 "points": self.points, **self.fields}
        try:
            checked = model.model_validate(table)
        except ValidationError as exc:
            raise ValueError("; ".join(
                f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']} (given "
                f"{error.get('input')!r})" for error in exc.errors())) from None
        return checked.model_copy(update={"password": self.password})


def check_password(protocol: str, password: str, where: str) -> str:
    """`password` if the protocol takes it, else ValueError that does not repeat it."""
    pattern, text = PASSWORD_RULES[protocol]
    if not re.fullmatch(pattern, password):
        raise ValueError(f"the {protocol} password {where} is not {text} "
                         f"({len(password)} character(s))")
    return password


def read_password_file(protocol: str, path: Path) -> str:
    """The password in the first line of `path` (ValueError saying why not; never the text)."""
    try:
        text = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the password file {path}: {exc}") from None
    return check_password(protocol, text[0].strip() if text else "", f"in {path}")


def report_points(devices: dict[str, str], chosen: dict[str, str | None],
                  points_of: dict[str, list[str]]) -> dict[str, str]:
    """element -> "device/point" for the centres' reports: the accounting's meters where chosen,
    else the first device of the role; only points the device reads."""
    mapped = {}
    for element, role, point in ELEMENT_POINTS:
        device = chosen.get(role) or next((n for n, r in devices.items() if r == role), None)
        if device is not None and point in points_of.get(device, []):
            mapped[element] = f"{device}/{point}"
    return mapped


def parse_spec(text: str, number: int) -> Centre:
    """A centre from `--centre` (SPEC_TEXT); ValueError saying what is wrong. The password is
    read from its file here, so it never appears on a command line."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) < 3 or parts[0] not in PROTOCOLS:
        raise ValueError(f"{text!r}: expected {SPEC_TEXT}")
    protocol, where = parts[0], parts[1]
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{where!r}: expected HOST:PORT, the port 1..65535")
    given: dict[str, str] = {}
    for part in parts[2:]:
        key, sep, value = part.partition("=")
        if not sep or key not in SPEC_KEYS[protocol]:
            raise ValueError(f"{part!r}: expected KEY=VALUE, KEY one of "
                             f"{', '.join(SPEC_KEYS[protocol])} for {protocol}")
        given[key] = value
    password = "0000"
    if "password-file" in given:
        password = read_password_file(protocol, Path(given.pop("password-file")))
    name = given.pop("name", f"centre-{number}")
    if protocol == "sl427":
        fields: dict[str, Any] = {"county": given.get("county"),
                                  "station": _number(given.get("station")),
                                  "edition": given.get("edition", EDITIONS[0])}
    else:
        fields = {"station": given.get("station"), "station_class": given.get(
            "station_class", next(iter(SL651_CLASSES))),
            "centre_address": _number(given.get("centre_address", "1"))}
    missing = [key for key, value in fields.items() if value is None]
    for key in PERIODS:
        if key in given:
            try:
                fields[key] = float(given[key])
            except ValueError:
                raise ValueError(f"{key}={given[key]!r}: expected seconds") from None
    if missing:
        raise ValueError(f"{text!r}: give {', '.join(missing)}")
    return Centre(name, protocol, host, int(port), fields, password=password)


def uplinks_toml(centres: list[Centre]) -> list[str]:
    """The [[uplinks]] tables of the centres."""
    lines: list[str] = []
    for centre in centres:
        settings = centre.settings()
        lines += ["[[uplinks]]", f"name = {_text(centre.name)}", f'type = "{centre.protocol}"',
                  f"host = {_text(centre.host)}", f"port = {centre.port}"]
        if isinstance(settings, Sl427Uplink):
            lines += [f"edition = {_text(settings.edition)}", "address_mode = 1",
                      f"county = {_text(settings.county)}", f"station = {settings.station}"]
        else:
            lines += [f"centre_address = {settings.centre_address}",
                      f"station = {_text(settings.station)}",
                      f"station_class = {_text(settings.station_class)}"]
        lines += [f"{key} = {settings.model_dump()[key]:g}" for key in PERIODS
                  if key in centre.fields]
        lines += [f"password = {_text(centre.password)}", "", "[uplinks.points]"]
        lines += [f"{element} = {_text(point)}" for element, point in centre.points.items()]
        lines.append("")
    return lines


def frame_address(uplink: Sl427Uplink | Sl651Uplink, zone: Any) -> str:
    """The station address as the centre reads it: the first frame this uplink's speaker sends
    (SL/T 427 login, SL 651 keep-alive), read back by the drivers' codec; SL/T 427 as
    "county/station" (address mode 1), SL 651 as its 10 digits."""
    import time

    from drivers import sl427, sl651
    from gateway.uplink.centre_sl427 import Sl427Speaker
    from gateway.uplink.centre_sl651 import Sl651Speaker

    if isinstance(uplink, Sl427Uplink):
        message = Sl427Speaker(uplink, zone, None).login(time.time())
        parsed, _kind = sl427.parse_link_check(message.frame(0), uplink.edition)
        return f"{parsed.county}/{parsed.station}"
    message = Sl651Speaker(uplink, zone, None).keepalive(time.time())
    parsed, _body = sl651.parse_uplink(message.frame(0))
    return str(parsed.station)


def registration_centres(config: Any, fingerprint: str) -> list[dict[str, Any]]:
    """Per centre of the config: protocol, where, the station address in its frames and the
    gateway's key fingerprint."""
    from gateway.accounting.periods import local_zone

    zone = local_zone(config.well.timezone)
    return [{"name": uplink.name, "protocol": uplink.type,
             "edition": getattr(uplink, "edition", "SL 651-2014"),
             "centre": f"{uplink.host}:{uplink.port}",
             "station_address": frame_address(uplink, zone),
             "fingerprint": fingerprint}
            for uplink in config.uplinks if uplink.type in PROTOCOLS]


def _number(text: str | None) -> int | str | None:
    """A whole number typed as text, as the config's number (else the text, refused there)."""
    return int(text) if text is not None and text.isdigit() else text


def _text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)
