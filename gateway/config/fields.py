"""The config tables' shared parts: a strict base, names, fields whose text shows their bounds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticUndefined

from gateway.errors import Problem, bounds_text

SECONDS_PER_DAY = 86_400

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Name = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="a name of letters, digits, '-', '_' or '.' (up to 64), e.g. \"rs485-1\"",
    ),
]


class Section(BaseModel):
    """A config table: unknown keys are errors, values are not coerced, the result is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


def bounded(what: str, default: Any = PydanticUndefined, *, ge: float | None = None,
            gt: float | None = None, le: float | None = None, lt: float | None = None,
            sep: str = ", ", then: str = "", show: Callable[[float], str] | None = None,
            **field: Any) -> Any:
    """A pydantic Field whose description is `what`, then the range its bounds allow, then `then`:
    bounded("failed polls in a row", 3, ge=1, le=1000) says "failed polls in a row, 1..1000"."""
    shown = {"show": show} if show is not None else {}
    allowed = bounds_text(ge=ge, gt=gt, le=le, lt=lt, **shown)
    return Field(default, ge=ge, gt=gt, le=le, lt=lt, description=f"{what}{sep}{allowed}{then}",
                 **field)


def table(description: str) -> Any:
    """A field holding a table that may be left out: absent, it is an empty table validated like
    one written (so the table's model is built with its parent's, never on its own)."""
    return Field(default={}, validate_default=True, description=description)


def seconds(default: float, low: float, high: float, what: str) -> Any:
    """A duration field of [well.accounting]: "what, seconds low..high"."""
    return bounded(f"{what}, seconds", default, ge=low, le=high, sep=" ")


def backoff_grows(initial: float, maximum: float) -> Iterator[Problem]:
    """backoff_max below backoff_initial (of an uplink, or of [acquisition])."""
    if maximum < initial:
        yield Problem(("backoff_max",), f"at least backoff_initial ({initial})", maximum)
