"""The [[buses]] tables (one model per bus type) and the [[devices]] on them."""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, PlainValidator

from drivers.modbus_rtu import silent_interval
from gateway.config.fields import Name, Section, bounded
from gateway.errors import WhenMissing, bounds_text, one_of
from gateway.profiles import Baud, Parity, PointName, Role, SlaveId, StopBits, member_of

MAX_INTER_FRAME_GAP = 1.0  # seconds
SERIAL_PORT = 'a serial port, e.g. "/dev/ttyUSB0" (or "sim://rtu" for the simulated well)'


def _inter_frame_gap(value: Any) -> str | float:
    if value == "auto":
        return "auto"
    if (isinstance(value, int | float) and not isinstance(value, bool)
            and 0 <= value <= MAX_INTER_FRAME_GAP):
        return float(value)
    raise ValueError(f'"auto" or seconds {bounds_text(ge=0, le=MAX_INTER_FRAME_GAP)}')


InterFrameGap = Annotated[
    Literal["auto"] | float,
    PlainValidator(_inter_frame_gap),
    Field(description='"auto" (3.5 character times; 1.75 ms above 19200 baud) or seconds '
          + bounds_text(ge=0, le=MAX_INTER_FRAME_GAP)),
]


def _timeout(default: float) -> Any:
    return bounded("seconds", default, gt=0, le=10)


class _BusBase(Section):
    """What every bus has: a name, its type, line settings, and how long to wait for a reply.

    A tcp bus accepts the line settings too (and ignores them), as it always has."""

    name: Name
    type: str
    baud: Baud = 9600
    parity: Parity = "N"
    stop_bits: StopBits = 1
    bytesize: Annotated[int, Field(strict=True, description=one_of((7, 8))), member_of((7, 8))] = 8
    timeout: float = _timeout(0.5)
    retries: int = bounded("extra attempts", 1, ge=0, le=5)
    inter_frame_gap: InterFrameGap = "auto"

    def line(self) -> str:
        """The line settings as installers write them: "9600 8N1"."""
        return f"{self.baud} {self.bytesize}{self.parity}{self.stop_bits}"


def _serial_keys(bus_type: str) -> dict[str, str]:
    return {key: f'no {key} on a bus of type {bus_type} (only type = "tcp" has one)'
            for key in ("host", "tcp_port")}


class _SerialBus(_BusBase):
    """A bus on a serial port; it has no host."""

    @property
    def host(self) -> None:
        """A serial bus has no host (only a tcp bus has one)."""
        return None


class RtuBus(_SerialBus):
    """One RS-485 line of Modbus RTU slaves."""

    type: Literal["rtu"] = Field(description='"rtu"')
    port: Annotated[str, WhenMissing('the serial port of this rtu bus, e.g. "/dev/ttyUSB0"')] = (
        Field(min_length=1, description=SERIAL_PORT))

    OTHER_TYPE_KEYS: ClassVar[dict[str, str]] = _serial_keys("rtu")


class Dlt645Bus(_SerialBus):
    """One RS-485 line of DL/T 645 meters: 2400 8E1 is the most cited default (protocols.md), and
    meters take longer to answer than Modbus slaves."""

    type: Literal["dlt645"] = Field(description='"dlt645"')
    baud: Baud = 2400
    parity: Parity = "E"
    timeout: float = _timeout(1.0)
    port: Annotated[str, WhenMissing('the serial port of this dlt645 bus, e.g. "/dev/ttyUSB0"')] = (
        Field(min_length=1, description=SERIAL_PORT))

    OTHER_TYPE_KEYS: ClassVar[dict[str, str]] = _serial_keys("dlt645")


class TcpBus(_BusBase):
    """One Modbus TCP endpoint."""

    type: Literal["tcp"] = Field(description='"tcp"')
    timeout: float = _timeout(1.0)
    host: Annotated[str, WhenMissing('the host of this tcp bus, e.g. "192.168.1.10"')] = Field(
        min_length=1, description='a host name or IP address, e.g. "192.168.1.10"')
    tcp_port: int = bounded("a TCP port", 502, ge=1, le=65535, sep=" ")

    OTHER_TYPE_KEYS: ClassVar[dict[str, str]] = {
        "port": "no port on a tcp bus: give host and tcp_port (port is for serial buses)"}

    @property
    def port(self) -> None:
        """A tcp bus has no serial port."""
        return None


Bus = Annotated[RtuBus | TcpBus | Dlt645Bus, Field(discriminator="type")]
BUS_MODELS: dict[str, type[_BusBase]] = {"rtu": RtuBus, "tcp": TcpBus, "dlt645": Dlt645Bus}


def bus_model(table: Any) -> type[_BusBase] | None:
    """The model of a [[buses]] table by its type (None: no type, or not a known one)."""
    kind = table.get("type") if isinstance(table, dict) else None
    return BUS_MODELS.get(kind) if isinstance(kind, str) else None


class Device(Section):
    """One meter on one bus."""

    name: Name
    bus: str = Field(min_length=1, description="the name of one of the buses")
    model: str = Field(min_length=1, description='a device profile name, e.g. "tuf-2000m"')
    slave_id: SlaveId | None = Field(default=None, description="an integer 1..247")
    address: str | None = Field(
        default=None, pattern=r"^[0-9]{12}$",
        description='12 digits as printed on the meter\'s nameplate, e.g. "000000000001"',
    )
    poll_interval: float = bounded("seconds", 5.0, ge=0.1, le=86400)
    role: Role | None = Field(default=None, description=one_of(Role.__args__))
    points: list[PointName] = Field(
        default=[], description="a list of point names of the device's profile"
    )


def resolve_inter_frame_gap(bus: Bus) -> float:
    """Seconds of silence to keep between frames on a bus (0 for Modbus TCP)."""
    if bus.inter_frame_gap != "auto":
        return float(bus.inter_frame_gap)
    if bus.type == "tcp":
        return 0.0
    # 3.5 character times (Modbus over serial line V1.02); DL/T 645 buses keep the same silence.
    return float(silent_interval(bus.baud))
