"""`wellgate init --new-chain`: start a new chain knowingly where a store that existed is lost.

The old database (and its -wal, -shm) is renamed to wellgate.db.lost-<UTC time>, never deleted;
the new store's first block holds one signed `new_chain` store_event saying what was found
(the old file's state, the signs that a store existed, the old chain's next seq when a
surviving marker knows it), so the platform, which receives it first, sees why the gateway's
seqs start again at 1.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.store.errors import StoreError
from gateway.store.lost import EVENT_NEW_CHAIN, Finding, inspect, move_aside, new_chain_event
from gateway.store.records import KIND_STORE_EVENT, STORE_DEVICE, NewRecord
from gateway.store.schema import DB_FILE
from gateway.store.writer import Block, StoreWriter


class NothingLost(StoreError):
    """`--new-chain` where no store is lost: there is nothing to start again."""


@dataclass(frozen=True)
class NewChain:
    """What `init --new-chain` did."""

    finding: Finding
    moved_to: Path | None
    block: Block


def start_new_chain(state_dir: Path, key: Ed25519PrivateKey) -> NewChain:
    """Move the lost store aside and begin a new chain with its `new_chain` event; NothingLost
    if the store is readable and whole, or if no store ever existed."""
    state_dir = Path(state_dir)
    finding = inspect(state_dir)
    if finding is None:
        path = state_dir / DB_FILE
        if path.exists():
            raise NothingLost(f"{path} is a readable store and not cut back: nothing to start "
                              "again (`wellgate verify` checks it)")
        raise NothingLost(f"no store existed in {state_dir}: `wellgate run` starts one")
    try:
        size: int | None = finding.path.stat().st_size
    except FileNotFoundError:
        size = None
    moved_to = move_aside(finding)
    event = new_chain_event(finding, moved_to, size)
    writer = StoreWriter(state_dir, key, new_chain=True)
    try:
        record = NewRecord.make(KIND_STORE_EVENT, STORE_DEVICE, EVENT_NEW_CHAIN,
                                finding.previous_next_seq, "seq", wall_time=time.time(),
                                mono_time=time.monotonic(), data=event)
        block = writer.append([record])
    finally:
        writer.close()
    return NewChain(finding, moved_to, block)
