"""Standard 以电折水 coefficient tables (config/coefficients/*.toml): k by area, power, depth band.

A water bureau publishes k for wells not yet calibrated, by area, pump power class and depth
band. A table is a data file like a device profile: its source and what is unconfirmed are in
it, and an installer adds a bureau's table by dropping a file beside the others, no code.
"""

from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.errors import (
    ConfigError,
    Problem,
    format_problem,
    problems_from_validation_error,
    read_toml,
    rules_error,
)
from gateway.shipped import shipped_dir

BUILTIN_TABLE_DIR = shipped_dir("coefficients")

Bounds = Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=2, max_length=2)]


class TableEntry(BaseModel):
    """k for one area, power class (above the first kW, up to the second) and depth band."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)

    area: str = Field(min_length=1)
    power_kw: Bounds = Field(description="[above, up to] the pump's rated power, kW")
    depth_m: Bounds = Field(description="[above, up to] the depth to water, metres")
    k_m3_per_kwh: float = Field(gt=0, le=1000)

    def matches(self, area: str, power_kw: float, depth_m: float) -> bool:
        return (self.area == area and self.power_kw[0] < power_kw <= self.power_kw[1]
                and self.depth_m[0] < depth_m <= self.depth_m[1])


class CoefficientTable(BaseModel):
    """One published table, with where it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)

    name: str = Field(min_length=1)
    title: str = Field(min_length=1)
    source: str = Field(min_length=1, description="the notice or document the figures are from")
    unconfirmed: str = Field(default="", description="what has not been checked against it")
    uncertainty_percent: float = Field(gt=0, le=100,
                                       description="the expanded uncertainty of its k, ± %")
    entries: list[TableEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _bands_are_ordered(self) -> Self:
        problems = [Problem(("entries", index, key), "[above, up to] with above < up to",
                            list(getattr(entry, key)))
                    for index, entry in enumerate(self.entries)
                    for key in ("power_kw", "depth_m")
                    if getattr(entry, key)[0] >= getattr(entry, key)[1]]
        if problems:
            raise rules_error(problems)
        return self

    def lookup(self, area: str, power_kw: float, depth_m: float) -> TableEntry | None:
        """The entry for this well (the first that matches), or None."""
        return next((e for e in self.entries if e.matches(area, power_kw, depth_m)), None)

    def areas(self) -> list[str]:
        return sorted({entry.area for entry in self.entries})


def table_path(name: str, base: Path | None = None) -> Path:
    """A table by name (config/coefficients/NAME.toml) or by path (relative to `base`)."""
    if "/" in name or name.endswith(".toml"):
        path = Path(name)
        return path if path.is_absolute() or base is None else base / path
    return BUILTIN_TABLE_DIR / f"{name}.toml"


def load_table(path: Path) -> CoefficientTable:
    """Parse and validate one table; ConfigError with file, line and key path if it is wrong."""
    text, data = read_toml(path, "standard coefficient table")
    try:
        return CoefficientTable.model_validate(data)
    except ValidationError as exc:
        problems = problems_from_validation_error(exc, CoefficientTable)
        raise ConfigError([format_problem(p, path, text) for p in problems]) from None
