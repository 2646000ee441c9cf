"""StoreStats: what the store's sink has done since it was opened (the demo, health, tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoreStats:
    """What the store has done since it was opened (for the demo, health and tests)."""

    boot: int | None
    committed_records: int
    committed_blocks: int
    last_seq: int | None
    buffered: int
    dropped: int
    write_failing: bool
    last_error: str
    low_space: bool

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}
