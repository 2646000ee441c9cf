"""Reading a test store back: its records in seq order, and the verdict of verify."""

from __future__ import annotations

from pathlib import Path

from gateway.store.keys import load_private_key
from gateway.store.records import ROW_COLUMNS, Record
from gateway.store.schema import DB_FILE, open_reader
from gateway.store.verify import VerifyResult, verify_store


def stored(state_dir: Path, kind: str | None = None) -> list[Record]:
    """Every record (or every record of one kind) of the store in state_dir, in seq order."""
    conn = open_reader(Path(state_dir) / DB_FILE)
    try:
        sql = f"SELECT {ROW_COLUMNS} FROM records"
        rows = conn.execute(sql + (" WHERE kind = ?" if kind else "") + " ORDER BY seq",
                            (kind,) if kind else ())
        return [Record.from_row(row) for row in rows]
    finally:
        conn.close()


def verified(state_dir: Path) -> VerifyResult:
    """verify's verdict on the store in state_dir, checked with the key beside it."""
    conn = open_reader(Path(state_dir) / DB_FILE)
    try:
        return verify_store(conn, load_private_key(state_dir).public_key())
    finally:
        conn.close()
