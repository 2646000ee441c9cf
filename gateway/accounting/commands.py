"""Installer commands as signed store records: confirm a flag, record a meter replacement, a
site override of the pump control, and giving the pump back. The accounting room reads them in
store order like everything else, so a command counts exactly once, after what came before it."""

from __future__ import annotations

import getpass
import time
from pathlib import Path
from typing import Any

from gateway.accounting.records import INSTALLER_DEVICE, KIND_COMMAND
from gateway.store import StoreWriter, load_private_key
from gateway.store.records import NewRecord


def command_record(point: str, value: Any, data: dict[str, Any]) -> NewRecord:
    """A command record, signed as the installer's (the user running the command is named)."""
    return NewRecord.make(KIND_COMMAND, INSTALLER_DEVICE, point, value, wall_time=time.time(),
                          mono_time=time.monotonic(), data={"by": _who(), **data})


def append_command(state_dir: Path, record: NewRecord) -> int:
    """Append one record to the signed store (beside a running gateway); returns its seq."""
    writer = StoreWriter(state_dir, load_private_key(state_dir))
    try:
        return writer.append([record]).last_seq
    finally:
        writer.close()


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
