"""A store that existed and is gone, empty or unreadable is refused, never silently restarted.

A power cut on ext4 can leave wellgate.db at 0 bytes; opening it would make a new, valid chain
at seq 1 under the same key, and the platform would get two different records for each seq.
So every writer first looks for signs that a store existed in the state directory:

  store.json     the marker: written by every writer when it opens the store, at most every
                 MARK_EVERY seconds after a commit, and when it closes; it holds the chain's
                 next seq as last seen (so "the old chain reached at least seq N");
  uplink.nonce   batches were made from this store (their nonces were reserved);
  wellgate.db-wal  a write-ahead log without its database.

The key alone does not count: `wellgate init` makes it before the first `wellgate run` makes
the store. With any sign, a missing or empty database is StoreLost, and so is a database whose
meta.next_seq is below the marker's (cut back). A database file SQLite cannot read is StoreLost
whatever the signs (the writer raises it). Starting again is `wellgate init --new-chain`
(start_new_chain): the old files are kept aside as wellgate.db.lost-<UTC time>, and the new
chain's first record is a signed `new_chain` store_event naming what was found and why.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.store.errors import StoreError
from gateway.store.modes import open_private
from gateway.store.schema import DB_FILE, open_reader

log = logging.getLogger(__name__)

MARKER_FILE = "store.json"
NONCE_FILE = "uplink.nonce"  # written by gateway/uplink/nonce.py
MARK_EVERY = 600.0  # s: how stale the marker's next seq may be after a power cut
EVENT_NEW_CHAIN = "new_chain"
NEW_CHAIN_COMMAND = "wellgate init --new-chain"


@dataclass
class Finding:
    """What is wrong with a store that existed: its file, its state, and the signs of it."""

    path: Path
    state: str  # "missing: ...", "empty (0 bytes)", "not a readable SQLite database (...)" ...
    evidence: list[str] = field(default_factory=list)
    previous_next_seq: int | None = None
    marked_at: float | None = None

    def describe(self) -> str:
        verb = "shows" if len(self.evidence) == 1 else "show"
        signs = f" ({', '.join(self.evidence)} {verb} it)" if self.evidence else ""
        reached = ""
        if self.previous_next_seq is not None:
            when = "" if self.marked_at is None else time.strftime(
                " on %Y-%m-%d %H:%M:%S UTC", time.gmtime(self.marked_at))
            reached = (f"; the old chain reached at least next seq {self.previous_next_seq} "
                       f"({MARKER_FILE}{when})")
        return f"{self.path} is {self.state}, but a store existed here{signs}{reached}"


class StoreLost(StoreError):
    """A store that existed is missing, empty, unreadable or cut back: refusing to start anew."""

    def __init__(self, finding: Finding) -> None:
        self.finding = finding
        super().__init__(
            f"{finding.describe()}. Refusing to start a new chain at seq 1 under the same key "
            f"(the platform would get two different records for the same seqs). Restore "
            f"{finding.path.name} from a backup (with its -wal file if there is one), or start "
            f"a new chain knowingly with `{NEW_CHAIN_COMMAND}` (the old file is kept beside it "
            f"and the new chain's first record says why)")


def read_marker(state_dir: Path) -> dict[str, Any] | None:
    """The marker's content; None if there is none, {} if it cannot be read."""
    path = Path(state_dir) / MARKER_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s (%s): it still shows that a store existed", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def write_marker(state_dir: Path, next_seq: int, fingerprint: str) -> None:
    """Replace the marker atomically (0600, synced, then renamed); OSError if it cannot."""
    state_dir = Path(state_dir)
    path = state_dir / MARKER_FILE
    tmp = state_dir / f".{MARKER_FILE}.{os.getpid()}.tmp"
    content = json.dumps({"store": DB_FILE, "next_seq": int(next_seq), "public_key": fingerprint,
                          "written_wall": time.time()})
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    dir_fd = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _evidence(state_dir: Path) -> tuple[list[str], dict[str, Any] | None]:
    marker = read_marker(state_dir)
    found = [MARKER_FILE] if marker is not None else []
    found += [name for name in (NONCE_FILE, DB_FILE + "-wal") if (state_dir / name).exists()]
    return found, marker


def _marked_next_seq(marker: dict[str, Any] | None) -> int | None:
    value = (marker or {}).get("next_seq")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_before_open(state_dir: Path) -> None:
    """StoreLost if the database is missing or empty while the state directory shows a store."""
    state_dir = Path(state_dir)
    path = state_dir / DB_FILE
    try:
        size: int | None = path.stat().st_size
    except FileNotFoundError:
        size = None
    if size:
        return
    evidence, marker = _evidence(state_dir)
    if evidence:
        raise StoreLost(Finding(path, "missing: no database file" if size is None
                                else "empty (0 bytes)", evidence, _marked_next_seq(marker),
                                (marker or {}).get("written_wall")))


def check_next_seq(state_dir: Path, next_seq: int) -> None:
    """StoreLost if the open database's next seq is below what the marker saw (cut back)."""
    marker = read_marker(state_dir)
    marked = _marked_next_seq(marker)
    if marked is not None and next_seq < marked:
        raise StoreLost(Finding(
            Path(state_dir) / DB_FILE,
            f"cut back: its meta.next_seq is {next_seq}, below the {marked} the store had "
            "reached (the newest records are gone)", [MARKER_FILE], marked,
            (marker or {}).get("written_wall")))


def unreadable(state_dir: Path, error: Exception) -> StoreLost:
    """The StoreLost of a database file SQLite cannot read (it existed: it has bytes)."""
    state_dir = Path(state_dir)
    evidence, marker = _evidence(state_dir)
    return StoreLost(Finding(state_dir / DB_FILE, f"not a readable SQLite database ({error})",
                             evidence, _marked_next_seq(marker),
                             (marker or {}).get("written_wall")))


def inspect(state_dir: Path) -> Finding | None:
    """What is wrong with the store in `state_dir` (read-only), or None if nothing is."""
    try:
        check_before_open(state_dir)
        path = Path(state_dir) / DB_FILE
        if not path.exists():
            return None
        conn = open_reader(path)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "no such table" not in str(exc):
                raise
            raise unreadable(state_dir, exc) from None
        finally:
            conn.close()
        if row is not None and isinstance(row[0], int):
            check_next_seq(state_dir, row[0])
    except StoreLost as lost:
        return lost.finding
    return None


def move_aside(finding: Finding) -> Path | None:
    """Rename the lost store's files to <name>.lost-<UTC time>; the database's new name."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    moved = None
    for suffix in ("", "-wal", "-shm"):
        old = finding.path.with_name(finding.path.name + suffix)
        if old.exists():
            new = old.with_name(f"{old.name}.lost-{stamp}")
            os.replace(old, new)
            if not suffix:
                moved = new
    return moved


def new_chain_event(finding: Finding, moved_to: Path | None, size: int | None) -> dict[str, Any]:
    """The data of the `new_chain` store_event that starts the new chain."""
    return {
        "event": EVENT_NEW_CHAIN,
        "reason": f"the store that existed was {finding.state}; a new chain was started "
                  f"knowingly with `{NEW_CHAIN_COMMAND}`",
        "old_store": {"file": str(finding.path), "state": finding.state, "size": size,
                      "moved_to": None if moved_to is None else str(moved_to)},
        "evidence": finding.evidence,
        "previous_next_seq": finding.previous_next_seq,
        "previous_marked_wall": finding.marked_at,
    }
