"""Whether the health snapshot still speaks for a running gateway: its writer's PID, how often it
is rewritten, and whether the gateway said it stopped."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

STALE_PERIODS = 3  # a snapshot older than this many rewrite periods is stale
STALE_GRACE_S = 5.0  # and never before one period and this much more (a slow disk, a busy core)


def _start_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, /proc/PID/stat field 22), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name may hold spaces and ")"
    return int(fields[19]) if len(fields) > 19 else None


_own_start: tuple[int, int | None] | None = None  # (pid, its start): read once per process


def writer_fields(rewritten_every: float) -> dict[str, Any]:
    """What the snapshot says of its writer: this process, and how often it rewrites it."""
    global _own_start
    pid = os.getpid()
    if _own_start is None or _own_start[0] != pid:  # a forked child is another process
        _own_start = (pid, _start_ticks(pid))
    return {"pid": pid, "pid_start": _own_start[1], "rewritten_every": rewritten_every}


def stale_after(snapshot: dict[str, Any]) -> float:
    """How old (s) the snapshot may grow while the gateway runs."""
    every = float(snapshot.get("rewritten_every") or 5.0)
    return max(STALE_PERIODS * every, every + STALE_GRACE_S)


def _writer_gone(snapshot: dict[str, Any]) -> bool:
    pid = snapshot.get("pid")
    if not isinstance(pid, int):
        return False  # a snapshot from before the writer was named: its age must tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's: compare its start time
    started = snapshot.get("pid_start")
    return started is not None and _start_ticks(pid) != started  # the PID was reused


def staleness(snapshot: dict[str, Any], now: float | None = None) -> str | None:
    """Why the snapshot no longer describes a running gateway (None: it does)."""
    now = time.time() if now is None else now
    written = float(snapshot.get("written_at") or 0.0)
    age = now - written
    if snapshot.get("stopped_at") is not None:
        return f"the gateway stopped {now - float(snapshot['stopped_at']):.0f} s ago"
    if _writer_gone(snapshot):
        return (f"the gateway that wrote it (PID {snapshot['pid']}) is not running; it was "
                f"written {age:.0f} s ago")
    if age > stale_after(snapshot):
        return (f"it was written {age:.0f} s ago and should be rewritten every "
                f"{float(snapshot.get('rewritten_every') or 5.0):g} s: the gateway is hung or "
                "cannot write its runtime directory")
    return None
