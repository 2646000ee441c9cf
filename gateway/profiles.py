"""Device profiles: one TOML data file per meter model, naming its registers and where they came from."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Where profiles are looked up, in order: $WELLGATE_PROFILE_PATH (os.pathsep-separated), then the
# repository's config/profiles/. A gateway config may add its own folders in front of these.
BUILTIN_PROFILE_DIR = Path(__file__).resolve().parent.parent / "config" / "profiles"

RegisterType = Literal[
    "u16", "i16", "u32", "i32", "u64", "i64", "float32", "float64",
    "bcd16", "bcd32", "string", "bits16", "bits32", "long_fraction",
]
WordOrder = Literal["ABCD", "CDAB", "BADC", "DCBA"]
PointKind = Literal["instant", "total", "status", "config"]
Role = Literal["flow", "energy", "level", "relay"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelInfo(_Strict):
    """Who makes the meter, and where its register map comes from."""

    name: str  # the id installers pick, e.g. "eastron-sdm120" (equals the file name)
    manufacturer: str
    description: str
    protocol: Literal["modbus", "dlt645"]
    role: Role
    source: str  # where the map comes from (manual, open driver, shared/domain/meters.md)
    unconfirmed: list[str] = Field(default_factory=list)  # what is still unverified


class LineDefaults(_Strict):
    """Factory line settings of the meter."""

    baud: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stop_bits: Literal[1, 2] = 1
    slave_id: int | None = None  # Modbus unit id (1-247); None for DL/T 645
    max_registers_per_request: int = Field(default=125, ge=1, le=125)
    # Registers that may not be read in one request with their neighbours (gaps the meter rejects).
    max_gap: int = Field(default=0, ge=0, le=125)


class ModbusPoint(_Strict):
    """One value read from Modbus registers."""

    name: str
    function: Literal[3, 4]
    address: int = Field(ge=0, le=0xFFFF)  # 0-based wire address
    type: RegisterType
    order: WordOrder = "ABCD"
    length: int | None = None  # registers, for type = "string"
    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0
    decimals_from: str | None = None  # another point whose raw value is the number of decimals
    kind: PointKind = "instant"
    flags: dict[str, str] = Field(default_factory=dict)  # bit number -> name, for bits16/bits32
    enum: dict[str, str] = Field(default_factory=dict)  # raw value -> name (e.g. pipe status)
    rollover: float | None = None  # a totaliser's stated maximum before it wraps
    description: str = ""


class Dlt645Point(_Strict):
    """One value read by a DL/T 645-2007 data identifier."""

    name: str
    di: str = Field(pattern=r"^[0-9A-Fa-f]{8}$")  # e.g. "00010000", DI3 first as written in tables
    length: int = Field(ge=1, le=8)  # data bytes after the DI
    decimals: int = Field(ge=0, le=6)
    signed: bool = False  # top bit of the most significant byte is the sign
    unit: str = ""
    kind: PointKind = "instant"
    rollover: float | None = None
    description: str = ""


class Profile(_Strict):
    """A meter model: line defaults and the points to read."""

    model: ModelInfo
    defaults: LineDefaults = LineDefaults()
    points: list[ModbusPoint] | list[Dlt645Point]


def profile_dirs(extra: list[Path] | None = None) -> list[Path]:
    """The folders searched for profiles, first match wins."""
    dirs = list(extra or [])
    env = os.environ.get("WELLGATE_PROFILE_PATH", "")
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
    """Parse and validate one profile file (raises pydantic.ValidationError or TOMLDecodeError)."""
    with open(path, "rb") as handle:
        return Profile.model_validate(tomllib.load(handle))


def load_profile(name: str, extra: list[Path] | None = None) -> Profile:
    """Load a profile by model name (raises KeyError naming what is available)."""
    found = available_profiles(extra)
    if name not in found:
        raise KeyError(f"no device profile named {name!r}; available: {', '.join(sorted(found))}")
    return load_profile_file(found[name])
