"""`wellgate status`: per destination the backlog (records, age of the oldest), last success and
last error: the backlog from the store (read-only), the rest from the running gateway's
<runtime_dir>/uplink.json. A destination whose receiver refuses a fork shows state "fork", and a
note under the table names the seq and gives the receiver's reason."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gateway.config import GatewayConfig
from gateway.tables import format_table
from gateway.uplink.outbox import Outbox, OutboxError
from gateway.uplink.service import read_status


def uplink_status(config: GatewayConfig, now: float | None = None,
                  live: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One dict per configured uplink; `live` is a running Uplinks.snapshot() (default: the one
    the running gateway last wrote to its runtime directory)."""
    now = time.time() if now is None else now
    running = live if live is not None else read_status(Path(config.gateway.runtime_dir)) or {}
    live = running.get("uplinks", {})
    outbox = Outbox.of_state_dir(Path(config.gateway.state_dir))
    rows = []
    try:
        for uplink in config.uplinks:
            row: dict[str, Any] = {"name": uplink.name, "type": uplink.type,
                                   "to": uplink.url or f"{uplink.host}:{uplink.port}"}
            try:
                backlog = outbox.backlog(uplink.name)
                row.update(acked_seq=backlog.acked_seq, last_seq=backlog.last_seq,
                           backlog_records=backlog.records,
                           oldest_age_s=None if backlog.oldest_wall is None
                           else max(0.0, now - backlog.oldest_wall))
            except OutboxError as exc:
                row["store_error"] = str(exc)
            state = live.get(uplink.name)
            if state is not None:
                row.update(state=state["state"], last_success=state["last_success"],
                           last_error=state["last_error"],
                           last_error_wall=state["last_error_wall"],
                           fork=state.get("fork"))
            else:
                row.update(state="not running", last_success=None, last_error="",
                           last_error_wall=None, fork=None)
            rows.append(row)
    finally:
        outbox.close()
    return rows


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def format_status(rows: list[dict[str, Any]], now: float | None = None) -> str:
    now = time.time() if now is None else now
    if not rows:
        return "no [[uplinks]] configured: everything stays in the local store"
    cells = []
    for row in rows:
        success = row.get("last_success")
        error = row.get("store_error") or row.get("last_error") or ""
        if row.get("fork") and error.startswith("fork at "):
            error = error.split(": ", 1)[0] + " (see below)"  # "fork at seq N"
        when = row.get("last_error_wall")
        if error and when:
            error = f"{error} ({_age(now - when)} ago)"
        cells.append((row["name"], row.get("state", "-"), row.get("acked_seq", "-"),
                      row.get("backlog_records", "-"), _age(row.get("oldest_age_s")),
                      (_age(now - success) + " ago") if success else "never", error))
    table = format_table(("uplink", "state", "acked", "backlog", "oldest", "last success",
                          "last error"), cells, align="<<>>>><", min_widths=(14, 12, 9, 9, 8, 13),
                         sep=(" ", " ", " ", " ", " ", "  "))
    notes = [_fork_note(row, now) for row in rows if row.get("fork")]
    return "\n\n".join([table, *notes])


def _fork_note(row: dict[str, Any], now: float) -> str:
    """What a person must know of a fork the receiver refuses (docs/platform.md, "Forks")."""
    fork = row["fork"]
    where = f"seq {fork['seq']}" if fork.get("seq") is not None else "a seq it does not name"
    since = fork.get("since")
    age = f" for {_age(now - since)}" if since else ""
    return (f"{row['name']}: FORK at {where}{age}: the receiver holds other records under seqs "
            f"this gateway has signed again (its store was cut back and rewritten?). The cursor "
            f"stays at {row.get('acked_seq', '?')} and sending backs off: a person must look "
            f"(docs/platform.md, \"Forks\").\n  the receiver says: {fork.get('reason', '')}")
