"""`wellgate platform report`: per gateway, what it delivered: records, gaps, last seen."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from gateway.tables import table_lines


@dataclass
class GatewayReport:
    gateway: str
    registered: bool
    records: int = 0
    first_seq: int | None = None
    acked_seq: int | None = None
    thinned: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)
    rejected: int = 0  # batches refused (see _REFUSALS)
    verification_failures: int = 0
    last_seen: float | None = None
    last_problem: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_REFUSALS = ("rejected", "replay", "verification_failed", "out_of_order", "fork",
             "internal_error")


def gateway_reports(conn: sqlite3.Connection, registered: list[str]) -> list[GatewayReport]:
    """Every registered gateway and every other gateway the database has heard of."""
    reports: dict[str, GatewayReport] = {name: GatewayReport(name, True) for name in registered}
    for gateway, first, acked, records, thinned, last_seen in conn.execute(
            "SELECT gateway, first_seq, acked_seq, records, thinned, last_seen FROM gateways"):
        report = reports.setdefault(gateway, GatewayReport(gateway, False))
        report.first_seq, report.acked_seq, report.records = first, acked, records
        report.thinned, report.last_seen = thinned, last_seen
    for gateway, kind, first, last, detail, count in conn.execute(
            "SELECT gateway, kind, first_seq, last_seq, detail, count FROM events "
            "ORDER BY coalesce(last_wall, wall), id"):
        if gateway is None:
            continue
        report = reports.setdefault(gateway, GatewayReport(gateway, False))
        if kind == "gap":
            report.gaps.append((first, last))
        elif kind in _REFUSALS:
            report.rejected += count
            report.verification_failures += count if kind == "verification_failed" else 0
            report.last_problem = detail
    return sorted(reports.values(), key=lambda r: r.gateway)


def format_reports(reports: list[GatewayReport], now: float | None = None) -> str:
    now = time.time() if now is None else now
    rows = []
    for r in reports:
        seq = f"{r.first_seq}..{r.acked_seq}" if r.acked_seq is not None else "-"
        seen = _ago(now - r.last_seen) if r.last_seen is not None else "never"
        name = r.gateway if r.registered else f"{r.gateway} (unregistered)"
        rows.append((name, r.records, seq, len(r.gaps), r.thinned, r.rejected, seen))
    header, *lines_of_rows = table_lines(
        ("gateway", "records", "seq", "gaps", "thinned", "refused", "last seen"), rows,
        align="<>>>>><", min_widths=(20, 9, 17, 5, 8, 8), sep=(" ", " ", " ", " ", " ", "  "))
    lines = [header]
    for r, row_line in zip(reports, lines_of_rows, strict=True):
        lines.append(row_line)
        for first, last in r.gaps:
            lines.append(f"    gap: seq {first}..{last} never received")
        if r.last_problem:
            lines.append(f"    last refusal: {r.last_problem}")
    return "\n".join(lines)


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"
