"""Metered against derived (以电折水) over the same time: the span both meters' intervals cover.

An interval's volume runs from the last reading before its start to the last one before its end,
so the flow meter's and the energy meter's closed intervals end up to one poll apart, and over a
short run that poll is a large share of the water. Each interval close adds both sources' spans
here; the newest stretch that both cover is compared: each source's amount over exactly that
stretch, by time within the intervals that straddle its ends (the rest waits for the next close).
The compared amounts go into a ledger of their own (day, month, year) and into the interval
records (`compared`), which are the drift rule's series.
"""

from __future__ import annotations

from typing import Any

from gateway.accounting.ledger import Ledger
from gateway.accounting.periods import DERIVED, METERED

MAX_PENDING = 200  # spans of one source kept while the other has none (a meter silent)
Span = tuple[float | None, float | None, float]  # start, end, amount


class Comparison:
    """The spans not yet compared, how far both are compared, and the compared totals."""

    def __init__(self, time_zone: str, state: dict[str, Any] | None = None) -> None:
        state = state or {}
        self.pending: dict[str, list[list[float]]] = {
            source: [list(p) for p in state.get("pending", {}).get(source, [])]
            for source in (METERED, DERIVED)}
        self.compared_to: float | None = state.get("compared_to")
        self.ledger = Ledger(time_zone, state.get("ledger"))

    def settle(self, metered: Span | None, derived: Span | None
               ) -> tuple[float, float, float, float] | None:
        """Add one closed interval of each source (None: that source has none); returns
        (start, end, metered m³, derived m³) over the newest stretch both cover, or None."""
        for source, span in ((METERED, metered), (DERIVED, derived)):
            if span is None or span[1] is None:
                continue
            start, end, amount = span
            self.pending[source].append([end if start is None else start, end, amount])
            del self.pending[source][:-MAX_PENDING]
        if not all(self.pending.values()):
            return None
        end = min(spans[-1][1] for spans in self.pending.values())
        start = max(spans[0][0] for spans in self.pending.values())
        if self.compared_to is not None:
            start = max(start, self.compared_to)
        if end <= start:
            return None
        metered_m3, derived_m3 = self._take(METERED, start, end), self._take(DERIVED, start, end)
        self.compared_to = end
        self.ledger.add(start, end, metered_m3, METERED)
        self.ledger.add(start, end, derived_m3, DERIVED)
        return start, end, metered_m3, derived_m3

    def _take(self, source: str, start: float, end: float) -> float:
        """The amount within [start, end] (by time within a span); what lies after `end` stays,
        what lies before `start` is dropped (the other source did not cover it)."""
        total, keep = 0.0, []
        for span_start, span_end, amount in self.pending[source]:
            if span_end <= span_start:  # an instant
                if start < span_end <= end:
                    total += amount
                elif span_end > end:
                    keep.append([span_start, span_end, amount])
                continue
            length = span_end - span_start
            total += amount * max(0.0, min(span_end, end) - max(span_start, start)) / length
            if span_end > end:
                cut = max(span_start, end)
                keep.append([cut, span_end, amount * (span_end - cut) / length])
        self.pending[source] = keep
        return total

    def to_state(self) -> dict[str, Any]:
        """The checkpoint's "compared" entry."""
        return {"pending": self.pending, "compared_to": self.compared_to,
                "ledger": self.ledger.to_state()}
