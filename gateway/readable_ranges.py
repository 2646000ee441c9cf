"""Register ranges a meter model is known to answer a read inside, named or not (a profile's
`defaults.readable_gaps`): the read planner may read through them to save requests."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

READABLE_GAPS = "a list of tables {function = 3 or 4, first = address, last = address >= first}"


class ReadableRange(BaseModel):
    """Registers first..last (0-based wire addresses, inclusive) of one function code."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    function: Literal[3, 4] = Field(description="3 (holding registers) or 4 (input registers)")
    first: int = Field(ge=0, le=0xFFFF, description="a 0-based wire address 0..65535")
    last: int = Field(ge=0, le=0xFFFF, description="a 0-based wire address 0..65535, >= first")

    @model_validator(mode="after")
    def _ordered(self) -> ReadableRange:
        if self.last < self.first:
            raise ValueError(f"last ({self.last}) must be >= first ({self.first})")
        return self
