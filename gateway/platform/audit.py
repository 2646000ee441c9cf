"""Check what the receiver holds for a gateway, again, from its own tables: every stored record
hashed (gateway/store/chain.py), chained block by block, and every block signature verified.

The same proof a court or an auditor can repeat at any time from the platform's database and the
gateway's public key, without trusting the receiver that stored it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.store import chain
from gateway.store.records import unpack_raw


@dataclass
class AuditResult:
    ok: bool
    records: int = 0
    blocks: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    problem: str = ""


def audit_gateway(conn: sqlite3.Connection, gateway: str,
                  public_key: Ed25519PublicKey) -> AuditResult:
    """Verify everything stored for `gateway` (seq order, one read snapshot)."""
    result = AuditResult(ok=True)
    conn.execute("BEGIN")
    try:
        blocks = conn.execute("SELECT block_no, first_seq, last_seq, prev_head, head, signature "
                              "FROM blocks WHERE gateway = ? ORDER BY block_no", (gateway,))
        rows = iter(conn.execute(f"SELECT {LEAF_COLUMNS} FROM records WHERE gateway = ? ORDER BY "
                                 "seq", (gateway,)))
        previous = None
        for block_no, first, last, prev_head, head, signature in blocks:
            if previous is not None and previous[0] + 1 == block_no and prev_head != previous[1]:
                return _bad(result, f"block {block_no} does not continue block {block_no - 1}")
            running = prev_head
            for seq in range(first, last + 1):
                row = next(rows, None)
                if row is None or row[0] != seq:
                    return _bad(result, f"seq {seq} of block {block_no} is not stored in order")
                running = chain.chain_step(running, stored_leaf(row))
                result.records += 1
            if running != head or not chain.block_signature_valid(
                    public_key, block_no, first, last, prev_head, head, signature):
                return _bad(result, f"block {block_no} (seq {first}..{last}) does not verify")
            result.blocks += 1
            result.first_seq = first if result.first_seq is None else result.first_seq
            result.last_seq = last
            previous = (block_no, head)
        extra = next(rows, None)
        if extra is not None:
            return _bad(result, f"seq {extra[0]} is stored outside every block")
    finally:
        conn.execute("ROLLBACK")
    return result


LEAF_COLUMNS = ("seq, kind, device, point, value, unit, quality, raw, wall_time, mono_time, boot, "
                "data, leaf")


def stored_leaf(row: tuple) -> bytes:
    """The leaf of a records row read as LEAF_COLUMNS: its canonical bytes hashed, or the leaf
    a thinned record was stored with."""
    if row[12] is not None:
        return row[12]
    data = None if row[11] is None else json.loads(row[11])
    fields = (*row[:7], unpack_raw(row[7]), row[8], row[9], row[10], data)
    return chain.leaf_hash(chain.canonical_bytes(fields))


def _bad(result: AuditResult, problem: str) -> AuditResult:
    result.ok = False
    result.problem = problem
    return result
