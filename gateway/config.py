"""The gateway config: one TOML file, validated at load, reporting every error (not the first)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from drivers.modbus_rtu import silent_interval
from gateway.accounting.settings import (
    AccountingSection,
    PumpControlSection,
    accounting_problems,
)
from gateway.errors import (
    ConfigError,
    Problem,
    did_you_mean,
    find_line,
    format_problem,
    one_of,
    problems_from_validation_error,
    read_toml,
    rules_error,
)
from gateway.profiles import (
    Baud,
    Parity,
    Point,
    PointName,
    Profile,
    Role,
    SlaveId,
    StopBits,
    available_profiles,
    load_profile,
    load_profile_file,
    member_of,
)

BUS_TYPES = ("rtu", "tcp", "dlt645")
SERIAL_BUS_TYPES = ("rtu", "dlt645")
# Line settings that differ by bus type; a key the config gives wins. DL/T 645: 2400 8E1 is the
# most cited default (protocols.md) and meters take longer to answer than Modbus slaves.
BUS_TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "rtu": {"baud": 9600, "parity": "N", "timeout": 0.5},
    "tcp": {"timeout": 1.0},
    "dlt645": {"baud": 2400, "parity": "E", "timeout": 1.0},
}
Name = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="a name of letters, digits, '-', '_' or '.' (up to 64), e.g. \"rs485-1\"",
    ),
]


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ValueError("an IANA time zone name, e.g. \"Asia/Shanghai\"") from None
    return value


def _inter_frame_gap(value: Any) -> str | float:
    if value == "auto":
        return "auto"
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    raise ValueError('"auto" or seconds 0..1')


InterFrameGap = Annotated[
    Literal["auto"] | float,
    PlainValidator(_inter_frame_gap),
    Field(description='"auto" (3.5 character times; 1.75 ms above 19200 baud) or seconds 0..1'),
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class GatewaySection(_Section):
    """Where the running gateway keeps its files."""

    runtime_dir: str = Field(
        default="/run/wellgate", min_length=1,
        description='a folder for the health snapshot (tmpfs under systemd), e.g. "/run/wellgate"',
    )
    state_dir: str = Field(
        default="/var/lib/wellgate", min_length=1,
        description='a folder on persistent storage for the signed store (wellgate.db) and the '
        'gateway key (gateway.key, made by `wellgate init`), e.g. "/var/lib/wellgate"',
    )


class WellSection(_Section):
    """The well this gateway meters."""

    id: str = Field(min_length=1, description='the well\'s id at the platform, e.g. "150602-0017"')
    name: str = Field(default="", description="a display name")
    timezone: Annotated[str, AfterValidator(_time_zone)] = Field(
        default="Asia/Shanghai", description='an IANA time zone name, e.g. "Asia/Shanghai"'
    )
    accounting: AccountingSection | None = Field(
        default=None, description="a [well.accounting] table (none: readings are stored, "
        "no volumes are worked out)",
    )
    pump_control: PumpControlSection = Field(
        default=PumpControlSection(), description="a [well.pump_control] table (default: off)"
    )


class AcquisitionSection(_Section):
    """When a device counts as offline, and how often an offline device is retried."""

    offline_after: int = Field(
        default=3, ge=1, le=1000, description="failed polls in a row, 1..1000"
    )
    backoff_initial: float = Field(
        default=5.0, gt=0, le=3600, description="seconds, more than 0 and at most 3600"
    )
    backoff_max: float = Field(
        default=300.0, gt=0, le=86400, description="seconds, more than 0 and at most 86400"
    )


class StoreSection(_Section):
    """How readings are committed to the signed store, kept, and thinned when the disk fills.

    One commit is one fsync'd SQLite transaction plus one signature: committing every 5 s (one poll
    cycle at the usual 5 s interval) writes a few flash pages per cycle instead of a few per
    reading, and a power cut costs at most those 5 s of samples (never volume: totals are
    cumulative)."""

    commit_interval: float = Field(
        default=5.0, gt=0, le=3600,
        description="seconds the oldest waiting reading may wait for its commit, "
        "more than 0 and at most 3600",
    )
    commit_max: int = Field(
        default=1000, ge=1, le=10_000,
        description="readings that make a commit without waiting for commit_interval, 1..10000",
    )
    buffer_max: int = Field(
        default=100_000, ge=10_000, le=10_000_000,
        description="readings held in memory while the disk cannot be written (the oldest are "
        "dropped, counted and logged beyond this), 10000..10000000",
    )
    retention_days: float = Field(
        default=90.0, gt=0, le=36_500,
        description="days a reading delivered to every uplink is kept before it is pruned, "
        "more than 0 and at most 36500 (undelivered readings are never pruned by age)",
    )
    free_space_floor_mb: float = Field(
        default=100.0, ge=1, le=1_000_000,
        description="megabytes of free disk below which the store thins undelivered history "
        "and raises the store_low_space alarm, 1..1000000",
    )
    thin_keep_interval: float = Field(
        default=900.0, ge=1, le=86_400,
        description="seconds between the totaliser readings kept when history is thinned, "
        "1..86400",
    )


UPLINK_TYPES = ("https", "mqtt")


class Uplink(_Section):
    """One destination the gateway delivers its signed store to (docs/wire-format.md).

    Each has its own cursor (the highest seq it acknowledged), so the city and a county centre
    can each receive every record. A batch is sent when batch_max_records are waiting or the
    oldest waiting one is batch_max_age seconds old, and is never larger than batch_max_kb on
    the wire (a store block is never split). Files are relative to the config file."""

    name: Name
    type: Literal["https", "mqtt"] = Field(description=one_of(UPLINK_TYPES))
    url: str | None = Field(
        default=None, pattern=r"^https://[^/\s]+(/\S*)?$",
        description='the receiver\'s batch URL (https only: nothing is sent in clear), e.g. '
        '"https://platform.example/v1/batches"',
    )
    host: str | None = Field(
        default=None, min_length=1, description='the MQTT broker host, e.g. "broker.example"'
    )
    port: int = Field(default=8883, ge=1, le=65535, description="the broker's TCP port 1..65535")
    tls: bool = Field(
        default=True, description="true (MQTT over TLS) or false (only a broker on this host)"
    )
    topic_prefix: str = Field(
        default="wellgate", pattern=r"^[^#+\s]+$",
        description='an MQTT topic prefix without wildcards: batches go to '
        '<prefix>/<gateway id>/batch, acks come on <prefix>/<gateway id>/ack',
    )
    username: str | None = Field(default=None, min_length=1, description="an MQTT user name")
    password: str | None = Field(default=None, description="the MQTT password")
    ca_file: str | None = Field(
        default=None, min_length=1,
        description="a PEM file of the CA(s) the server's certificate must chain to "
        "(default: the system's CAs)",
    )
    client_cert: str | None = Field(
        default=None, min_length=1, description="a PEM client certificate file, with client_key"
    )
    client_key: str | None = Field(
        default=None, min_length=1, description="the client certificate's PEM private key file"
    )
    platform_key: str | None = Field(
        default=None, min_length=1,
        description="the platform's ack public key (PEM, the .pub `wellgate platform keygen` "
        "made): acks not signed with it are ignored",
    )
    gateway_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        description="this gateway's id in the receiver's registry (default: the well id)",
    )
    batch_max_records: int = Field(
        default=50_000, ge=1, le=1_000_000, description="records per batch, 1..1000000"
    )
    batch_max_kb: int = Field(
        default=512, ge=1, le=65_536, description="kilobytes a batch may take, 1..65536"
    )
    batch_max_age: float = Field(
        default=60.0, ge=0, le=86_400,
        description="seconds the oldest waiting record may wait for a fuller batch, 0..86400",
    )
    timeout: float = Field(
        default=30.0, gt=0, le=3600,
        description="seconds to wait for the receiver's acknowledgement, more than 0 and at "
        "most 3600",
    )
    backoff_initial: float = Field(
        default=2.0, gt=0, le=3600, description="seconds, more than 0 and at most 3600"
    )
    backoff_max: float = Field(
        default=300.0, gt=0, le=86_400, description="seconds, more than 0 and at most 86400"
    )

    @model_validator(mode="after")
    def _fits_type(self) -> Uplink:
        problems = []
        given = self.model_fields_set
        if self.type == "https":
            if self.url is None:
                problems.append(Problem(("url",), 'the receiver\'s https:// URL, e.g. '
                                        '"https://platform.example/v1/batches"'))
            for key in ("host", "port", "tls", "topic_prefix", "username", "password"):
                if key in given:
                    problems.append(Problem((key,), f"no {key} on an https uplink (it is for "
                                            "type = \"mqtt\")", getattr(self, key)))
        else:
            if self.host is None:
                problems.append(Problem(("host",), 'the broker host, e.g. "broker.example"'))
            if "url" in given:
                problems.append(Problem(("url",), "no url on an mqtt uplink (give host and "
                                        "port)", self.url))
        if (self.client_cert is None) != (self.client_key is None):
            missing = "client_key" if self.client_key is None else "client_cert"
            problems.append(Problem((missing,), "client_cert and client_key together"))
        if self.backoff_max < self.backoff_initial:
            problems.append(Problem(("backoff_max",),
                                    f"at least backoff_initial ({self.backoff_initial})",
                                    self.backoff_max))
        if problems:
            raise rules_error(problems)
        return self


class Bus(_Section):
    """One RS-485 line (Modbus RTU or DL/T 645) or one Modbus TCP endpoint."""

    name: Name
    type: Literal["rtu", "tcp", "dlt645"] = Field(description=one_of(BUS_TYPES))
    port: str | None = Field(
        default=None, min_length=1,
        description='a serial port, e.g. "/dev/ttyUSB0" (or "sim://rtu" for the simulated well)',
    )
    baud: Baud = 9600  # defaults per bus type: BUS_TYPE_DEFAULTS
    parity: Parity = "N"
    stop_bits: StopBits = 1
    bytesize: Annotated[int, Field(strict=True, description=one_of((7, 8))), member_of((7, 8))] = 8
    host: str | None = Field(
        default=None, min_length=1, description='a host name or IP address, e.g. "192.168.1.10"'
    )
    tcp_port: int = Field(default=502, ge=1, le=65535, description="a TCP port 1..65535")
    timeout: float = Field(
        default=0.5, gt=0, le=10, description="seconds, more than 0 and at most 10"
    )
    retries: int = Field(default=1, ge=0, le=5, description="extra attempts, 0..5")
    inter_frame_gap: InterFrameGap = "auto"

    @model_validator(mode="before")
    @classmethod
    def _defaults_for_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") in BUS_TYPE_DEFAULTS:
            return {**BUS_TYPE_DEFAULTS[data["type"]], **data}
        return data

    def line(self) -> str:
        """The line settings as installers write them: "9600 8N1"."""
        return f"{self.baud} {self.bytesize}{self.parity}{self.stop_bits}"


class Device(_Section):
    """One meter on one bus."""

    name: Name
    bus: str = Field(min_length=1, description="the name of one of the buses")
    model: str = Field(min_length=1, description='a device profile name, e.g. "tuf-2000m"')
    slave_id: SlaveId | None = Field(default=None, description="an integer 1..247")
    address: str | None = Field(
        default=None, pattern=r"^[0-9]{12}$",
        description='12 digits as printed on the meter\'s nameplate, e.g. "000000000001"',
    )
    poll_interval: float = Field(default=5.0, ge=0.1, le=86400, description="seconds, 0.1..86400")
    role: Role | None = Field(
        default=None, description=one_of(Role.__args__)
    )
    points: list[PointName] = Field(
        default_factory=list, description="a list of point names of the device's profile"
    )


def _resolve_dirs(value: list[Path], base_dir: Path | None) -> list[Path]:
    if base_dir is None:
        return value
    return [path if path.is_absolute() else (base_dir / path).resolve() for path in value]


class GatewayConfig(_Section):
    """The whole gateway config; load_config() also checks the cross-field rules (CONFIG_RULES)."""

    profile_dirs: list[Path] = Field(
        default_factory=list,
        description="a list of folder paths (relative to the config file), searched before "
        "$WELLGATE_PROFILE_PATH and the built-in profiles",
    )
    gateway: GatewaySection = Field(
        default=GatewaySection(), description="a [gateway] table (runtime_dir, state_dir)"
    )
    well: WellSection = Field(description='a [well] table with at least id = "..."')
    acquisition: AcquisitionSection = Field(
        default=AcquisitionSection(),
        description="an [acquisition] table (offline_after, backoff_initial, backoff_max)",
    )
    store: StoreSection = Field(
        default=StoreSection(),
        description="a [store] table (commit_interval, commit_max, buffer_max, retention_days, "
        "free_space_floor_mb, thin_keep_interval)",
    )
    buses: list[Bus] = Field(min_length=1, description="a list of at least one [[buses]] table")
    devices: list[Device] = Field(
        min_length=1, description="a list of at least one [[devices]] table"
    )
    uplinks: list[Uplink] = Field(
        default_factory=list,
        description="a list of [[uplinks]] tables (none: the store keeps everything locally)",
    )

    _source: Path | None = PrivateAttr(default=None)
    _profiles: dict[str, Profile] = PrivateAttr(default_factory=dict)

    @field_validator("profile_dirs", mode="before")
    @classmethod
    def _strings_are_paths(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [Path(item) if isinstance(item, str) else item for item in value]
        return value

    @field_validator("profile_dirs")
    @classmethod
    def _relative_to_config(cls, value: list[Path], info: ValidationInfo) -> list[Path]:
        return _resolve_dirs(value, (info.context or {}).get("base_dir"))

    @field_validator("uplinks")
    @classmethod
    def _uplink_names_unique(cls, value: list[Uplink]) -> list[Uplink]:
        first: dict[str, int] = {}
        problems = []
        for index, uplink in enumerate(value):
            if uplink.name in first:
                problems.append(Problem((index, "name"), f"a name not already used by "
                                        f"uplinks[{first[uplink.name]}]", uplink.name))
            first.setdefault(uplink.name, index)
        if problems:
            raise rules_error(problems)
        return value

    def config_path(self, value: str) -> Path:
        """A file named in the config, relative to the config file's folder."""
        path = Path(value)
        if path.is_absolute() or self._source is None:
            return path
        return self._source.resolve().parent / path

    @property
    def source(self) -> Path | None:
        """The file this config was loaded from."""
        return self._source

    def bus(self, name: str) -> Bus:
        for bus in self.buses:
            if bus.name == name:
                return bus
        raise KeyError(f"no bus named {name!r}; buses: {', '.join(b.name for b in self.buses)}")

    def device(self, name: str) -> Device:
        for device in self.devices:
            if device.name == name:
                return device
        names = ", ".join(d.name for d in self.devices)
        raise KeyError(f"no device named {name!r}; devices: {names}")

    def devices_on(self, bus: Bus | str) -> list[Device]:
        name = bus if isinstance(bus, str) else bus.name
        return [device for device in self.devices if device.bus == name]

    def device_profile(self, device: Device | str) -> Profile:
        """The profile of a device's model (loaded once, then cached)."""
        model = self.device(device).model if isinstance(device, str) else device.model
        if model not in self._profiles:
            self._profiles[model] = load_profile(model, self.profile_dirs)
        return self._profiles[model]

    def effective_role(self, device: Device | str) -> str:
        """The device's role: its own `role`, else its profile's."""
        device = self.device(device) if isinstance(device, str) else device
        return device.role or self.device_profile(device).model.role

    def effective_points(self, device: Device | str) -> list[Point]:
        """The points to read, in profile order: the `points` subset (all when empty) plus the
        points the chosen ones take their decimals from."""
        device = self.device(device) if isinstance(device, str) else device
        profile = self.device_profile(device)
        wanted = set(device.points or profile.point_names)
        wanted |= {getattr(profile.point(name), "decimals_from", None) for name in wanted} - {None}
        return [point for point in profile.points if point.name in wanted]

    def with_ports(self, ports: dict[str, str]) -> GatewayConfig:
        """A copy with the named buses' serial ports replaced (the demo, tests, `probe --port`)."""
        for name in ports:
            self.bus(name)
        buses = [
            bus.model_copy(update={"port": ports[bus.name]}) if bus.name in ports else bus
            for bus in self.buses
        ]
        return self.model_copy(update={"buses": buses})


def resolve_inter_frame_gap(bus: Bus) -> float:
    """Seconds of silence to keep between frames on a bus (0 for Modbus TCP)."""
    if bus.inter_frame_gap != "auto":
        return float(bus.inter_frame_gap)
    if bus.type == "tcp":
        return 0.0
    # 3.5 character times (Modbus over serial line V1.02); DL/T 645 buses keep the same silence.
    return float(silent_interval(bus.baud))


# --- cross-field rules --------------------------------------------------------------------------


class _ProfileCatalog:
    """The profiles a config can pick, each loaded once; load errors are kept, not raised."""

    def __init__(self, dirs: list[Path]) -> None:
        self.paths = available_profiles(dirs)
        self.loaded: dict[str, Profile] = {}
        self.errors: list[str] = []
        self._failed: set[str] = set()

    def get(self, name: str) -> Profile | None:
        if name not in self.loaded and name in self.paths and name not in self._failed:
            try:
                self.loaded[name] = load_profile_file(self.paths[name])
            except ConfigError as exc:
                self._failed.add(name)
                self.errors += exc.errors
        return self.loaded.get(name)


@dataclass
class _ConfigView:
    """What validated of a config (all of it, or the sections and items that did)."""

    buses: list[tuple[int, Bus]]
    devices: list[tuple[int, Device]]
    acquisition: AcquisitionSection | None
    profile_dirs: list[Path]  # resolved against the config file's folder
    written_dirs: list[str]  # the same, as written in the file
    bus_names: set[str]  # every bus name written, even of a bus that did not validate
    profiles: _ProfileCatalog = field(init=False)

    def __post_init__(self) -> None:
        self.profiles = _ProfileCatalog(self.profile_dirs)

    def bus(self, name: str) -> Bus | None:
        return next((bus for _, bus in self.buses if bus.name == name), None)


ConfigRule = Callable[[_ConfigView], Iterator[Problem]]


def profile_dirs_exist(view: _ConfigView) -> Iterator[Problem]:
    for index, (folder, written) in enumerate(zip(view.profile_dirs, view.written_dirs,
                                                  strict=True)):
        if not folder.is_dir():
            expected = f"an existing folder ({folder} is not one)"
            yield Problem(("profile_dirs", index), expected, written)


def backoff_max_not_below_initial(view: _ConfigView) -> Iterator[Problem]:
    acquisition = view.acquisition
    if acquisition is not None and acquisition.backoff_max < acquisition.backoff_initial:
        expected = f"at least backoff_initial ({acquisition.backoff_initial})"
        yield Problem(("acquisition", "backoff_max"), expected, acquisition.backoff_max)


def _unique(items: list[tuple[int, Any]], section: str, key: str) -> Iterator[Problem]:
    first: dict[Any, int] = {}
    for index, item in items:
        value = getattr(item, key)
        if value in first:
            expected = f"a {key} not already used by {section}[{first[value]}]"
            yield Problem((section, index, key), expected, value)
        first.setdefault(value, index)


def bus_names_unique(view: _ConfigView) -> Iterator[Problem]:
    yield from _unique(view.buses, "buses", "name")


def device_names_unique(view: _ConfigView) -> Iterator[Problem]:
    yield from _unique(view.devices, "devices", "name")


def bus_connection_fits_type(view: _ConfigView) -> Iterator[Problem]:
    for index, bus in view.buses:
        given = bus.model_fields_set
        if bus.type in SERIAL_BUS_TYPES:
            if bus.port is None:
                expected = f'the serial port of this {bus.type} bus, e.g. "/dev/ttyUSB0"'
                yield Problem(("buses", index, "port"), expected)
            for key in ("host", "tcp_port"):
                if key in given:
                    expected = f'no {key} on a bus of type {bus.type} (only type = "tcp" has one)'
                    yield Problem(("buses", index, key), expected, getattr(bus, key))
        else:
            if bus.host is None:
                expected = 'the host of this tcp bus, e.g. "192.168.1.10"'
                yield Problem(("buses", index, "host"), expected)
            if "port" in given:
                expected = 'no port on a tcp bus: give host and tcp_port (port is for serial buses)'
                yield Problem(("buses", index, "port"), expected, bus.port)


def device_bus_exists(view: _ConfigView) -> Iterator[Problem]:
    names = sorted(view.bus_names)
    for index, device in view.devices:
        if device.bus not in view.bus_names:
            expected = f"the name of a bus: {', '.join(names)}" if names else "the name of a bus"
            hint = did_you_mean(device.bus, names)
            yield Problem(("devices", index, "bus"), expected, device.bus, hint)


def device_model_exists(view: _ConfigView) -> Iterator[Problem]:
    names = sorted(view.profiles.paths)
    for index, device in view.devices:
        if device.model not in view.profiles.paths:
            hint = did_you_mean(device.model, names)
            yield Problem(("devices", index, "model"), one_of(names), device.model, hint)


def device_fits_its_protocol(view: _ConfigView) -> Iterator[Problem]:
    for index, device in view.devices:
        profile = view.profiles.get(device.model)
        if profile is None:
            continue
        loc = ("devices", index)
        modbus = profile.model.protocol == "modbus"
        meter = f"{device.model!r} is a {'Modbus' if modbus else 'DL/T 645'} meter"
        bus = view.bus(device.bus)
        bus_types = ("rtu", "tcp") if modbus else ("dlt645",)
        if bus is not None and bus.type not in bus_types:
            expected = (f"a bus of type {' or '.join(bus_types)} ({meter}); "
                        f"bus {bus.name!r} is of type {bus.type}")
            yield Problem((*loc, "bus"), expected, device.bus)
        if modbus and device.slave_id is None:
            yield Problem((*loc, "slave_id"), f"an integer 1..247, the Modbus unit id ({meter})")
        if modbus and device.address is not None:
            expected = f"no address ({meter}, addressed by slave_id)"
            yield Problem((*loc, "address"), expected, device.address)
        if not modbus and device.address is None:
            expected = f'12 digits as on the meter\'s nameplate, e.g. "000000000001" ({meter})'
            yield Problem((*loc, "address"), expected)
        if not modbus and device.slave_id is not None:
            expected = f"no slave_id ({meter}, addressed by its 12-digit address)"
            yield Problem((*loc, "slave_id"), expected, device.slave_id)


def device_ids_unique_per_bus(view: _ConfigView) -> Iterator[Problem]:
    for key in ("slave_id", "address"):
        first: dict[tuple[str, Any], int] = {}
        for index, device in view.devices:
            value = getattr(device, key)
            if value is None:
                continue
            if (device.bus, value) in first:
                other = first[(device.bus, value)]
                expected = (f"a {key} not used by another device on bus {device.bus!r} "
                            f"(devices[{other}] has it)")
                yield Problem(("devices", index, key), expected, value)
            first.setdefault((device.bus, value), index)


def device_points_exist(view: _ConfigView) -> Iterator[Problem]:
    for index, device in view.devices:
        profile = view.profiles.get(device.model)
        if profile is None:
            continue
        names = profile.point_names
        seen: set[str] = set()
        for position, name in enumerate(device.points):
            loc = ("devices", index, "points", position)
            if name not in names:
                expected = f"a point of {device.model!r}: {', '.join(names)}"
                yield Problem(loc, expected, name, did_you_mean(name, names))
            elif name in seen:
                yield Problem(loc, "each point name once", name)
            seen.add(name)


CONFIG_RULES: tuple[ConfigRule, ...] = (
    profile_dirs_exist,
    backoff_max_not_below_initial,
    bus_names_unique,
    bus_connection_fits_type,
    device_names_unique,
    device_bus_exists,
    device_model_exists,
    device_fits_its_protocol,
    device_ids_unique_per_bus,
    device_points_exist,
)


# --- loading ------------------------------------------------------------------------------------


def _salvage(model: type[BaseModel], item: Any, context: dict[str, Any]) -> Any:
    """An item validated without the keys that have errors (their defaults stand in), or None."""
    try:
        return model.model_validate(item, context=context)
    except ValidationError as exc:
        if not isinstance(item, dict):
            return None
        bad = {error["loc"][0] for error in exc.errors() if error["loc"]}
        try:
            return model.model_validate(
                {key: value for key, value in item.items() if key not in bad}, context=context
            )
        except ValidationError:
            return None


def _salvaged_items(data: dict[str, Any], key: str, model: type[BaseModel],
                    context: dict[str, Any]) -> list[tuple[int, Any]]:
    items = data.get(key)
    salvaged = [(i, _salvage(model, item, context)) for i, item in enumerate(
        items if isinstance(items, list) else [])]
    return [(index, item) for index, item in salvaged if item is not None]


def _partial_view(data: dict[str, Any], context: dict[str, Any]) -> _ConfigView:
    """What can be made of an invalid config, so that cross-field rules still run on it: each bus
    and device without its bad keys (items whose name, type, bus or model is bad are left out)."""
    dirs = data.get("profile_dirs", [])
    dirs = dirs if isinstance(dirs, list) and all(isinstance(d, str) for d in dirs) else []
    buses = data.get("buses") if isinstance(data.get("buses"), list) else []
    names = {bus.get("name") for bus in buses if isinstance(bus, dict)}
    return _ConfigView(
        buses=_salvaged_items(data, "buses", Bus, context),
        devices=_salvaged_items(data, "devices", Device, context),
        acquisition=_salvage(AcquisitionSection, data.get("acquisition", {}), context),
        profile_dirs=_resolve_dirs([Path(d) for d in dirs], context["base_dir"]),
        written_dirs=dirs,
        bus_names={name for name in names if isinstance(name, str)},
    )


def _accounting_problems(config: GatewayConfig, view: _ConfigView) -> list[Problem]:
    """The rules across [well.accounting], [well.pump_control] and the devices."""
    devices = {device.name: device for device in config.devices}

    def profile(name: str) -> Profile | None:
        return view.profiles.get(devices[name].model)

    def points_of(name: str) -> list[str] | None:
        found = profile(name)
        return None if found is None else (devices[name].points or found.point_names)

    def role_of(name: str) -> str | None:
        found = profile(name)
        return devices[name].role or (found.model.role if found is not None else None)

    return list(accounting_problems(config.well, devices, points_of, role_of))


def load_config(path: Path | str) -> GatewayConfig:
    """Read and validate a gateway config; ConfigError lists every problem with file and line."""
    path = Path(path)
    text, data = read_toml(path, "gateway config")
    context = {"base_dir": path.resolve().parent}
    problems: list[Problem] = []
    config: GatewayConfig | None = None
    try:
        config = GatewayConfig.model_validate(data, context=context)
    except ValidationError as exc:
        problems += problems_from_validation_error(exc, GatewayConfig)
    if config is not None:
        view = _ConfigView(
            buses=list(enumerate(config.buses)), devices=list(enumerate(config.devices)),
            acquisition=config.acquisition, profile_dirs=config.profile_dirs,
            written_dirs=data.get("profile_dirs", []),
            bus_names={bus.name for bus in config.buses},
        )
    else:
        view = _partial_view(data, context)
    problems += [problem for rule in CONFIG_RULES for problem in rule(view)]
    if config is not None:
        problems += _accounting_problems(config, view)
    first_per_key = {problem.loc: problem for problem in reversed(problems)}
    problems = [problem for problem in problems if first_per_key[problem.loc] is problem]
    problems.sort(key=lambda problem: find_line(text, problem.loc) or 0)
    messages = [format_problem(problem, path, text) for problem in problems]
    messages += view.profiles.errors
    if messages or config is None:
        raise ConfigError(messages)
    config._source = path
    config._profiles = dict(view.profiles.loaded)
    return config


# --- summary ------------------------------------------------------------------------------------


def _device_line(config: GatewayConfig, device: Device) -> str:
    ident = f"id {device.slave_id}" if device.slave_id is not None else f"address {device.address}"
    count = len(config.effective_points(device))
    return (f"    {device.name:<18} {device.model:<16} {ident:<20} "
            f"{config.effective_role(device):<7} every {device.poll_interval:g} s, {count} points")


def summarize(config: GatewayConfig) -> str:
    """What a valid config will do: buses, devices, models, poll intervals (for check-config)."""
    well = config.well
    lines = [
        f"{config.source or 'config'}: OK",
        f"well {well.id}{f' ({well.name})' if well.name else ''}, time zone {well.timezone}",
        f"{len(config.buses)} bus(es), {len(config.devices)} device(s), "
        f"models: {', '.join(sorted({d.model for d in config.devices}))}",
    ]
    for bus in config.buses:
        gap = resolve_inter_frame_gap(bus)
        if bus.type == "tcp":
            where = f"tcp {bus.host}:{bus.tcp_port}"
        else:
            where = f"{bus.type} {bus.port} {bus.line()}, gap {gap * 1000:.2f} ms"
        lines.append(f"  bus {bus.name}: {where}, timeout {bus.timeout:g} s, retries {bus.retries}")
        devices = config.devices_on(bus)
        lines += [_device_line(config, device) for device in devices] or ["    (no devices)"]
    acquisition = config.acquisition
    lines.append(
        f"offline after {acquisition.offline_after} failed polls; retry every "
        f"{acquisition.backoff_initial:g} s doubling to {acquisition.backoff_max:g} s"
    )
    if config.profile_dirs:
        lines.append("extra profile folders: " + ", ".join(str(d) for d in config.profile_dirs))
    if config.well.accounting is not None:
        from gateway.accounting.plan import describe_plan

        lines += describe_plan(config)
    return "\n".join(lines)
