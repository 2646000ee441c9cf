"""[[uplinks]] of type "sl427" and "sl651": a centre station spoken to in a national protocol.

Settings per destination, since platforms differ (docs/centres.md): the protocol's edition and
tables, the station's address and password, the report and keep-alive periods, how often a
report is sent again, and which store points the report's elements come from.
"""

from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from gateway.config.fields import Name, Section, backoff_grows, bounded
from gateway.errors import ConfigError, Problem, WhenMissing, did_you_mean, rules_error

POINT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/[A-Za-z0-9_.-]{1,64}$"
POINT_TEXT = 'a store point as "device/point", e.g. "flow-meter/forward_total"'
EDITIONS = ("SL/T 427-2021", "SZY206-2016")
SL651_CLASSES = {"groundwater": 0x47, "intake": 0x49, "pump_station": 0x44}
MAX_CENTRES = 4  # as many centres as a certified RTU talks to at once

StorePoint = Annotated[str, Field(pattern=POINT_PATTERN, description=POINT_TEXT)]


class CentrePoints(Section):
    """Which store points a report's elements are read from ("device/point"); an element
    left out is sent as not measured."""

    flow: StorePoint | None = Field(default=None, description=f"instantaneous flow (m3/h): "
                                    f"{POINT_TEXT}")
    volume: StorePoint | None = Field(default=None, description=f"cumulative volume (m3): "
                                      f"{POINT_TEXT}")
    energy: StorePoint | None = Field(default=None, description=f"cumulative energy (kWh): "
                                      f"{POINT_TEXT}")
    water_level: StorePoint | None = Field(default=None, description=f"water level (m): "
                                           f"{POINT_TEXT}")
    pump_power: StorePoint | None = Field(
        default=None, description=f"the pump's active power (kW), for the pump state and a "
        f"report at once when it starts or stops: {POINT_TEXT}")

    def mapped(self) -> dict[str, str]:
        """element -> "device/point" of the elements given."""
        return {name: value for name, value in self.model_dump().items() if value is not None}


class _CentreBase(Section):
    """A persistent TCP link to a centre station: login, keep-alive, reports with resends.

    A report is one report period's newest committed reading of each mapped point; the cursor is
    the highest store seq a report the centre acknowledged covers (docs/centres.md)."""

    name: Name
    type: str
    host: Annotated[str, WhenMissing('the centre\'s host, e.g. "centre.example"')] = Field(
        min_length=1, description='the centre station\'s host name or address')
    port: Annotated[int, WhenMissing("the centre's TCP port, 1..65535")] = bounded(
        "the centre's TCP port", ge=1, le=65535, sep=" ")
    points: CentrePoints = Field(description="an [uplinks.points] table: element = "
                                 '"device/point"')
    report_period: float = bounded("seconds between reports (one report per period)", 300.0,
                                   ge=1, le=86_400)
    keepalive_period: float = bounded("seconds of silence before a keep-alive", 60.0, ge=1,
                                      le=3600)
    ack_timeout: float = bounded("seconds to wait for the centre's answer", 10.0, gt=0, le=600)
    pump_running_kw: float = bounded("pump power above which the pump counts as running, kW",
                                     0.5, ge=0, le=10_000)
    clock_from_centre: Literal["off", "record", "system"] = Field(
        default="record", description='"off", "record" (log and keep the offset to the '
        'centre\'s clock) or "system" (also set the system clock: needs root)')
    remote_pump: bool = Field(
        default=False, description="true takes the centre's pump start/stop commands (password "
        "checked, refused while the cut-off withholds them, each a signed store record)")
    connect_timeout: float = bounded("seconds a connection may take", 10.0, gt=0, le=600)
    backoff_initial: float = bounded("seconds", 2.0, gt=0, le=3600)
    backoff_max: float = bounded("seconds", 300.0, gt=0, le=86_400)

    @property
    def url(self) -> None:
        """A centre has no URL (`wellgate status` shows host:port)."""
        return None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        problems = [*backoff_grows(self.backoff_initial, self.backoff_max),
                    *something_mapped(self)]
        if problems:
            raise rules_error(problems)
        return self


def something_mapped(uplink: _CentreBase) -> Iterator[Problem]:
    """A report needs at least one value element."""
    values = set(uplink.points.mapped()) - {"pump_power"}
    if not values:
        yield Problem(("points",), "at least one of flow, volume, energy, water_level",
                      uplink.points.model_dump(exclude_none=True))


class Sl427Uplink(_CentreBase):
    """A centre speaking SL/T 427-2021 or its predecessor SZY206-2016."""

    type: Literal["sl427"] = Field(description='"sl427"')
    edition: Literal["SL/T 427-2021", "SZY206-2016"] = Field(
        default="SL/T 427-2021", description='"SL/T 427-2021" (7-byte time tag) or '
        '"SZY206-2016" (5-byte time tag)')
    type_codes: Literal["SL/T 427-2021", "SZY206-2016"] | None = Field(
        default=None, description="the edition whose type-code table C's D3-D0 follow "
        '("SL/T 427-2021": 8 = energy; "SZY206-2016": 8 = wind speed); default: the edition\'s')
    address_mode: Literal[1] = Field(default=1, description="1 (county code + station number)")
    county: Annotated[str, WhenMissing('the 6-digit county code (GB/T 2260), e.g. "150602"')] = (
        Field(pattern=r"^[0-9]{6}$", description='6 digits (GB/T 2260), e.g. "150602"'))
    station: Annotated[int, WhenMissing("the station number, 1..60000")] = bounded(
        "the station number", ge=1, le=60_000, sep=" ")
    password: str = Field(default="0000", pattern=r"^[0-9]{4}$",
                          description='4 digits: key 1 then key 2, e.g. "1234"')
    word_order: Literal["little", "big"] = Field(
        default="little", description='"little" (the standard\'s low byte first) or "big": the '
        "byte order of the alarm and status words")
    time_tag_delay: int = bounded("minutes the centre may accept a frame late (0: no check)",
                                  0, ge=0, le=255)
    max_resends: int = bounded("resends of an unacknowledged frame", 3, ge=0, le=3)

    OTHER_TYPE_KEYS: ClassVar[dict[str, str]] = {
        key: f'no {key} on an sl427 uplink (it is for type = "sl651")'
        for key in ("centre_address", "station_class", "volume_identifier",
                    "energy_identifier")}

    @property
    def type_table(self) -> str:
        return self.type_codes or self.edition


class Sl651Uplink(_CentreBase):
    """A centre speaking SL 651-2014, HEX mode."""

    type: Literal["sl651"] = Field(description='"sl651"')
    centre_address: int = bounded("the centre's address", 1, ge=1, le=255, sep=" ")
    station: Annotated[str, WhenMissing('the 10-digit station address, e.g. "0012345678"')] = (
        Field(pattern=r"^[0-9]{10}$", description='10 digits, e.g. "0012345678"'))
    password: str = Field(default="0000", pattern=r"^[0-9A-Fa-f]{4}$",
                          description='4 hex digits, e.g. "1234"')
    station_class: Literal["groundwater", "intake", "pump_station"] = Field(
        default="groundwater", description='"groundwater" (47), "intake" (49) or "pump_station" '
        "(44)")
    volume_identifier: str = Field(
        default="FF01", pattern=r"^FF[0-9A-F]{2}$",
        description='the user-defined identifier agreed for cumulative volume, "FF00".."FFFF"')
    energy_identifier: str = Field(
        default="FF02", pattern=r"^FF[0-9A-F]{2}$",
        description='the user-defined identifier agreed for cumulative energy, "FF00".."FFFF"')
    max_resends: int = bounded("resends of an unacknowledged report", 2, ge=0, le=2)

    OTHER_TYPE_KEYS: ClassVar[dict[str, str]] = {
        key: f'no {key} on an sl651 uplink (it is for type = "sl427")'
        for key in ("edition", "type_codes", "address_mode", "county", "word_order",
                    "time_tag_delay")}

    @model_validator(mode="after")
    def _identifiers_differ(self) -> Self:
        if self.volume_identifier == self.energy_identifier:
            raise rules_error([Problem(("energy_identifier",), "an identifier other than "
                                       f"volume_identifier ({self.volume_identifier})",
                                       self.energy_identifier)])
        return self


def centres_at_most(uplinks: list) -> Iterator[Problem]:
    """At most MAX_CENTRES centre links at once."""
    centres = [index for index, uplink in enumerate(uplinks)
               if uplink.type in ("sl427", "sl651")]
    if len(centres) > MAX_CENTRES:
        yield Problem((centres[MAX_CENTRES],), f"at most {MAX_CENTRES} sl427/sl651 uplinks "
                      f"(this is centre {MAX_CENTRES + 1})", uplinks[centres[MAX_CENTRES]].name)


def centre_points_exist(config: Any) -> Iterator[Problem]:
    """Each mapped "device/point" names a configured device and a point it reads."""
    devices = {device.name: device for device in config.devices}
    for index, uplink in enumerate(config.uplinks):
        if uplink.type not in ("sl427", "sl651"):
            continue
        for element, where in uplink.points.mapped().items():
            name, point = where.split("/", 1)
            loc = ("uplinks", index, "points", element)
            if name not in devices:
                yield Problem(loc, f"a configured device: {', '.join(devices)}", where,
                              hint=did_you_mean(name, list(devices)))
                continue
            try:
                points = [p.name for p in config.effective_points(devices[name])]
            except (ConfigError, KeyError, OSError):
                continue  # the device's profile is reported on its own
            if point not in points:
                yield Problem(loc, f"a point {name} reads: {', '.join(points)}", where,
                              hint=did_you_mean(point, points))
