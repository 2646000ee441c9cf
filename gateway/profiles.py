"""Device profiles: one TOML data file per meter model, naming its registers and their sources."""

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from gateway.errors import (
    ConfigError,
    Problem,
    format_problem,
    one_of,
    problems_from_validation_error,
    read_toml,
    rules_error,
)
from gateway.point_names import (
    CANONICAL_KINDS,
    CANONICAL_QUANTITIES,
    Plausible,
    plausible_limits_ordered,
)
from gateway.readable_ranges import READABLE_GAPS, ReadableRange
from gateway.shipped import shipped_dir
from gateway.units import unit_problem

# Where profiles are looked up, in order: $WELLGATE_PROFILE_PATH (os.pathsep-separated), then the
# repository's config/profiles/ (installed: share/wellgate/profiles/). A gateway config may add its
# own folders in front of these.
BUILTIN_PROFILE_DIR = shipped_dir("profiles")
PROFILE_PATH_ENV = "WELLGATE_PROFILE_PATH"

RegisterType = Literal[
    "u16", "i16", "u32", "i32", "u64", "i64", "float32", "float64",
    "bcd16", "bcd32", "string", "bits16", "bits32", "long_fraction",
]
WordOrder = Literal["ABCD", "CDAB", "BADC", "DCBA"]
PointKind = Literal["instant", "total", "status", "config"]
Role = Literal["flow", "energy", "level", "relay", "quality"]

# Registers per value (the same table as drivers.registers.register_count); string: `length`.
REGISTER_COUNTS: dict[str, int] = {
    "u16": 1, "i16": 1, "bcd16": 1, "bits16": 1,
    "u32": 2, "i32": 2, "float32": 2, "bcd32": 2, "bits32": 2,
    "u64": 4, "i64": 4, "float64": 4, "long_fraction": 4,
}
INTEGER_TYPES = ("u16", "i16", "u32", "i32", "u64", "i64", "bcd16", "bcd32")
BIT_WIDTHS = {"bits16": 16, "bits32": 32}
STANDARD_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
MAX_READ_REGISTERS = 125  # Modbus application protocol V1.1b3, FC 3/4

def member_of(allowed: tuple[int, ...]) -> AfterValidator:
    def check(value: int) -> int:
        if value not in allowed:
            raise ValueError(one_of(allowed))
        return value

    return AfterValidator(check)


def _not_zero(value: float) -> float:
    if value == 0:
        raise ValueError("a number other than 0")
    return value


Baud = Annotated[
    int, Field(strict=True, description=one_of(STANDARD_BAUDS)), member_of(STANDARD_BAUDS)
]
Parity = Annotated[Literal["N", "E", "O"], Field(description=one_of(("N", "E", "O")))]
StopBits = Annotated[int, Field(strict=True, description=one_of((1, 2))), member_of((1, 2))]
SlaveId = Annotated[int, Field(ge=1, le=247, description="an integer 1..247")]
PointName = Annotated[
    str, Field(pattern=r"^[a-z][a-z0-9_]*$", description="a snake_case name, e.g. \"flow_rate\"")
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


class ModelInfo(_Strict):
    """Who makes the meter, and where its register map comes from."""

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="a lower-case name with dashes, equal to the file name, e.g. \"tuf-2000m\"",
    )
    manufacturer: str = Field(min_length=1, description="the maker's name")
    description: str = Field(min_length=1, description="what the meter is, in one line")
    protocol: Literal["modbus", "dlt645"] = Field(description=one_of(("modbus", "dlt645")))
    role: Role = Field(description=one_of(Role.__args__))
    source: str = Field(
        min_length=1, description="where the map comes from (manual, open driver, meters.md)"
    )
    unconfirmed: list[str] = Field(
        default=[], description="a list of what is still unverified, as strings"
    )


class LineDefaults(_Strict):
    """Factory line settings of the meter."""

    baud: Baud = 9600
    parity: Parity = "N"
    stop_bits: StopBits = 1
    slave_id: SlaveId | None = Field(  # the Modbus unit id; None for DL/T 645
        default=None, description="an integer 1..247"
    )
    max_registers_per_request: int = Field(
        default=MAX_READ_REGISTERS, ge=1, le=MAX_READ_REGISTERS, description="an integer 1..125"
    )
    # The largest run of registers no point names that one merged request may read across
    # (0 = merge only adjacent points); meters that reject reads of unmapped registers need 0.
    max_gap: int = Field(default=0, ge=0, le=MAX_READ_REGISTERS, description="an integer 0..125")
    readable_gaps: list[ReadableRange] = Field(default=[], description=READABLE_GAPS)


class ModbusPoint(_Strict):
    """One value read from Modbus registers: value = raw × scale × 10^-decimals + offset."""

    name: PointName
    function: Literal[3, 4] = Field(description="3 (holding registers) or 4 (input registers)")
    address: int = Field(ge=0, le=0xFFFF, description="a 0-based wire address 0..65535")
    type: RegisterType = Field(description=one_of(RegisterType.__args__))
    order: WordOrder = Field(default="ABCD", description=one_of(WordOrder.__args__))
    length: int | None = Field(
        default=None, ge=1, le=MAX_READ_REGISTERS, description="registers 1..125, for strings"
    )
    unit: str = ""
    scale: Annotated[float, AfterValidator(_not_zero)] = Field(
        default=1.0, description="a number other than 0"
    )
    offset: float = Field(default=0.0, description="a number")
    decimals_from: str | None = Field(
        default=None, description="the name of another point whose raw value is the decimals"
    )
    kind: PointKind = Field(default="instant", description=one_of(PointKind.__args__))
    flags: dict[str, str] = Field(
        default={}, description="a table of bit number -> name, for bits16/bits32"
    )
    enum: dict[str, str] = Field(
        default={}, description="a table of raw value -> name, for integer types"
    )
    rollover: float | None = Field(
        default=None, gt=0, description="a totaliser's stated maximum before it wraps (> 0)"
    )
    resolution: float | None = Field(  # accounting takes a fall within it for noise
        default=None, gt=0, description="a totaliser's smallest step, its unit (> 0)"
    )
    plausible: Plausible = None  # [low, high] in its unit: outside, a reading is invalid
    # Another point that reads some of the same registers on purpose (the overlap rule allows it).
    overlaps: str | None = Field(default=None, description="the name of another point")
    description: str = ""

    @property
    def register_count(self) -> int:
        return (self.length or 0) if self.type == "string" else REGISTER_COUNTS[self.type]

    @property
    def end(self) -> int:
        """The first register address after this point."""
        return self.address + self.register_count


class Dlt645Point(_Strict):
    """One value read by a DL/T 645-2007 data identifier (BCD, low byte first)."""

    name: PointName
    di: str = Field(
        pattern=r"^[0-9A-Fa-f]{8}$",
        description="8 hex digits, DI3 first as the standard's tables write it, e.g. \"00010000\"",
    )
    length: int = Field(ge=1, le=8, description="the data bytes after the DI, 1..8")
    decimals: int = Field(ge=0, le=6, description="an integer 0..6")
    signed: bool = False  # the top bit of the most significant byte is the sign
    unit: str = ""
    kind: PointKind = Field(default="instant", description=one_of(PointKind.__args__))
    rollover: float | None = Field(
        default=None, gt=0, description="a totaliser's stated maximum before it wraps (> 0)"
    )
    resolution: float | None = Field(  # accounting takes a fall within it for noise
        default=None, gt=0, description="a totaliser's smallest step, its unit (> 0)"
    )
    plausible: Plausible = None
    description: str = ""


Point = ModbusPoint | Dlt645Point


def _point_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "dlt645" if "di" in value else "modbus"
    return "dlt645" if isinstance(value, Dlt645Point) else "modbus"


PointEntry = Annotated[
    Annotated[ModbusPoint, Tag("modbus")] | Annotated[Dlt645Point, Tag("dlt645")],
    Discriminator(_point_kind),
]


class Profile(_Strict):
    """A meter model: line defaults and the points to read (all Modbus or all DL/T 645)."""

    model: ModelInfo
    defaults: LineDefaults = Field(default={}, validate_default=True)
    points: list[PointEntry] = Field(min_length=1, description="a list of at least one point")

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        problems = [problem for rule in PROFILE_RULES for problem in rule(self)]
        if problems:
            raise rules_error(problems)
        return self

    @property
    def point_names(self) -> list[str]:
        return [point.name for point in self.points]

    def point(self, name: str) -> Point:
        for point in self.points:
            if point.name == name:
                return point
        raise KeyError(f"{self.model.name} has no point {name!r}; it has: {self.point_names}")


# --- cross-field rules: each yields Problems with the key path inside the profile ---------------

ProfileRule = Callable[[Profile], Iterator[Problem]]


def points_match_protocol(profile: Profile) -> Iterator[Problem]:
    protocol = profile.model.protocol
    for index, point in enumerate(profile.points):
        if protocol == "modbus" and isinstance(point, Dlt645Point):
            expected = "no DL/T 645 point in a Modbus profile: give function, address and type"
            yield Problem(("points", index, "di"), expected, point.di)
        if protocol == "dlt645" and isinstance(point, ModbusPoint):
            expected = "no Modbus point in a DL/T 645 profile: give di, length and decimals"
            yield Problem(("points", index, "address"), expected, point.address)


def point_names_unique(profile: Profile) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, point in enumerate(profile.points):
        if point.name in first:
            expected = f"a name not already used by points[{first[point.name]}]"
            yield Problem(("points", index, "name"), expected, point.name)
        first.setdefault(point.name, index)


def _modbus_points(profile: Profile) -> Iterator[tuple[int, ModbusPoint]]:
    for index, point in enumerate(profile.points):
        if isinstance(point, ModbusPoint):
            yield index, point


def decimals_from_names_a_point(profile: Profile) -> Iterator[Problem]:
    points = {point.name: point for _, point in _modbus_points(profile)}
    for index, point in _modbus_points(profile):
        if point.decimals_from is None:
            continue
        loc = ("points", index, "decimals_from")
        target = points.get(point.decimals_from)
        if target is None or target is point:
            names = [n for n, p in points.items() if p.type in INTEGER_TYPES and p is not point]
            expected = "another point of this profile with an integer type: " + ", ".join(names)
        elif target.type not in INTEGER_TYPES:
            expected = f"a point of an integer type; {target.name!r} is {target.type}"
        elif target.decimals_from is not None:
            expected = f"a point read as is; {target.name!r} has its own decimals_from"
        else:
            continue
        yield Problem(loc, expected, point.decimals_from)


def string_has_length(profile: Profile) -> Iterator[Problem]:
    for index, point in _modbus_points(profile):
        loc = ("points", index, "length")
        if point.type == "string" and point.length is None:
            yield Problem(loc, "the string's length in registers, 1..125")
        if point.type != "string" and point.length is not None:
            expected = f"no length for a {point.type} (only type = \"string\" has one)"
            yield Problem(loc, expected, point.length)


def flags_only_for_bits(profile: Profile) -> Iterator[Problem]:
    for index, point in _modbus_points(profile):
        if point.flags and point.type not in BIT_WIDTHS:
            expected = f"no flags for a {point.type} (only bits16 and bits32 have them)"
            yield Problem(("points", index, "flags"), expected, point.flags)
            continue
        width = BIT_WIDTHS.get(point.type, 0)
        for bit in point.flags:
            if not (bit.isdigit() and int(bit) < width):
                expected = f"a bit number 0..{width - 1} as the key"
                yield Problem(("points", index, "flags", bit), expected, bit)


def enum_only_for_integers(profile: Profile) -> Iterator[Problem]:
    for index, point in _modbus_points(profile):
        if point.enum and point.type not in INTEGER_TYPES:
            expected = f"no enum for a {point.type} (only integer types have one)"
            yield Problem(("points", index, "enum"), expected, point.enum)
            continue
        for raw in point.enum:
            if not raw.lstrip("-").isdigit():
                yield Problem(("points", index, "enum", raw), "a raw integer value as the key", raw)


def totals_are_numbers(profile: Profile) -> Iterator[Problem]:
    for index, point in _modbus_points(profile):
        if point.kind == "total" and (point.type == "string" or point.type in BIT_WIDTHS):
            expected = "a numeric type for a totaliser (kind = \"total\"), not a string or bits"
            yield Problem(("points", index, "type"), expected, point.type)


def rollover_only_for_totals(profile: Profile) -> Iterator[Problem]:
    for index, point in enumerate(profile.points):
        if point.rollover is not None and point.kind != "total":
            expected = f"no rollover for kind = {point.kind!r} (only totalisers wrap)"
            yield Problem(("points", index, "rollover"), expected, point.rollover)
        if point.resolution is not None and point.kind != "total":
            expected = f"no resolution for kind = {point.kind!r} (only totalisers have one)"
            yield Problem(("points", index, "resolution"), expected, point.resolution)


def registers_do_not_overlap(profile: Profile) -> Iterator[Problem]:
    points = list(_modbus_points(profile))
    for position, (index, point) in enumerate(points):
        for other_index, other in points[:position]:
            shared = point.function == other.function and (
                point.address < other.end and other.address < point.end
            )
            if shared and point.overlaps != other.name and other.overlaps != point.name:
                expected = (
                    f"registers not already read by points[{other_index}] {other.name!r} "
                    f"(0x{other.address:04X}..0x{other.end - 1:04X}, function {other.function}); "
                    f"if intended, set overlaps = {other.name!r}"
                )
                yield Problem(("points", index, "address"), expected, point.address)


def overlaps_names_a_point(profile: Profile) -> Iterator[Problem]:
    names = profile.point_names
    for index, point in _modbus_points(profile):
        if point.overlaps is None:
            continue
        if point.overlaps == point.name or point.overlaps not in names:
            others = ", ".join(name for name in names if name != point.name)
            expected = f"the name of another point of this profile: {others}"
            yield Problem(("points", index, "overlaps"), expected, point.overlaps)


def points_fit_one_request(profile: Profile) -> Iterator[Problem]:
    limit = profile.defaults.max_registers_per_request
    for index, point in _modbus_points(profile):
        if point.register_count > limit:
            expected = f"a value of at most {limit} registers (defaults.max_registers_per_request)"
            yield Problem(("points", index, "type"), expected, point.type)


def dlt645_identifiers_unique(profile: Profile) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, point in enumerate(profile.points):
        if isinstance(point, Dlt645Point):
            di = point.di.upper()
            if di in first:
                expected = f"a DI not already read by points[{first[di]}]"
                yield Problem(("points", index, "di"), expected, point.di)
            first.setdefault(di, index)


def dlt645_decimals_fit_length(profile: Profile) -> Iterator[Problem]:
    for index, point in enumerate(profile.points):
        if isinstance(point, Dlt645Point) and point.decimals >= 2 * point.length:
            digits = 2 * point.length
            expected = f"fewer decimals than the {digits} BCD digits of {point.length} byte(s)"
            yield Problem(("points", index, "decimals"), expected, point.decimals)


def canonical_names_keep_their_kind(profile: Profile) -> Iterator[Problem]:
    for index, point in enumerate(profile.points):
        kind = CANONICAL_KINDS.get(point.name)
        if kind is not None and point.kind != kind:
            expected = f"{kind!r}: {point.name!r} is a canonical name (docs/points.md)"
            yield Problem(("points", index, "kind"), expected, point.kind)


def units_are_known(profile: Profile) -> Iterator[Problem]:
    for index, point in enumerate(profile.points):
        quantity = CANONICAL_QUANTITIES.get(re.sub(r"(_l[1-3])+$", "", point.name))
        expected = unit_problem(point.unit, quantity)
        if expected is not None:
            yield Problem(("points", index, "unit"), expected, point.unit)


def line_defaults_fit_protocol(profile: Profile) -> Iterator[Problem]:
    if profile.model.protocol == "dlt645" and profile.defaults.slave_id is not None:
        expected = "no slave_id: DL/T 645 meters are addressed by their 12-digit address"
        yield Problem(("defaults", "slave_id"), expected, profile.defaults.slave_id)


PROFILE_RULES: tuple[ProfileRule, ...] = (
    points_match_protocol,
    point_names_unique,
    decimals_from_names_a_point,
    string_has_length,
    flags_only_for_bits,
    enum_only_for_integers,
    totals_are_numbers,
    rollover_only_for_totals,
    registers_do_not_overlap,
    overlaps_names_a_point,
    points_fit_one_request,
    dlt645_identifiers_unique,
    dlt645_decimals_fit_length,
    canonical_names_keep_their_kind,
    units_are_known,
    line_defaults_fit_protocol,
    plausible_limits_ordered,
)


# --- finding and loading profiles ---------------------------------------------------------------


def profile_dirs(extra: list[Path] | None = None) -> list[Path]:
    """The folders searched for profiles, first match wins."""
    dirs = list(extra or [])
    env = os.environ.get(PROFILE_PATH_ENV, "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs.append(BUILTIN_PROFILE_DIR)
    return dirs


def available_profiles(extra: list[Path] | None = None) -> dict[str, Path]:
    """Every profile name that can be picked, with the file it comes from."""
    found: dict[str, Path] = {}
    for folder in profile_dirs(extra):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found.setdefault(path.stem, path)
    return found


def load_profile_file(path: Path) -> Profile:
    """Parse and validate one profile file; ConfigError lists every problem with file and line."""
    path = Path(path)
    text, data = read_toml(path, "device profile")
    problems: list[Problem] = []
    profile = None
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems += problems_from_validation_error(exc, Profile)
    name = data.get("model", {}).get("name") if isinstance(data.get("model"), dict) else None
    if isinstance(name, str) and name != path.stem:
        problems.append(Problem(("model", "name"), f"the file's name without .toml, {path.stem!r} "
                                "(installers pick a model by its file name)", name))
    if problems or profile is None:
        raise ConfigError([format_problem(problem, path, text) for problem in problems])
    return profile


def load_profile(name: str, extra: list[Path] | None = None) -> Profile:
    """Load a profile by model name (KeyError naming what is available; ConfigError if invalid)."""
    found = available_profiles(extra)
    if name not in found:
        raise KeyError(f"no device profile named {name!r}; available: {', '.join(sorted(found))}")
    return load_profile_file(found[name])
