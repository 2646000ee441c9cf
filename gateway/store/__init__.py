"""The signed, tamper-evident, crash-safe local store of readings (docs/store.md).

    from gateway.store import StoreSink, create_key, open_reader, verify_store

    create_key(state_dir)                       # once: `wellgate init`
    sink = StoreSink(state_dir, config.store)   # the acquisition's ReadingSink
    sink.accept(readings); sink.flush(); sink.close()
    result = verify_store(open_reader(state_dir / "wellgate.db"), load_public_key(pub_file))

Modules: chain (the spec: canonical bytes, hash chain, block signature), keys, schema
(connections, migrations), records, writer (one transaction per block), sink (buffer and writer
thread; its upkeep in space, its own alarms and events in notes, its counters in stats), verify,
export, retention (pruning and thinning), lost (refusing a store that existed and is gone, the
store.json marker), new_chain (`wellgate init --new-chain`), modes (state files 0600 in a 0700
folder), journal (a sector-granular commit journal for the design of docs/store.md "Bytes
written per reading"; not yet used by the writer). The other rooms read the store through queries
(records and blocks by seq, the newest of a kind) and cursors (each uplink destination's acked
seq); only this package knows its tables.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it, imported when the name is first used (PEP 562): a process
# that writes readings does not load the verifier, and `import gateway.store.x` loads only x.
_EXPORTS = {
    "StoreError": "errors",
    "KEY_FILE": "keys", "PUBLIC_KEY_FILE": "keys", "KeyExists": "keys", "NoKey": "keys",
    "create_key": "keys", "fingerprint": "keys", "load_private_key": "keys",
    "load_public_key": "keys",
    "NewRecord": "records", "Record": "records",
    "DB_FILE": "schema", "open_reader": "schema",
    "StoreSink": "sink",
    "StoreStats": "stats",
    "Verifier": "verify", "VerifyResult": "verify", "verify_store": "verify",
    "Block": "writer", "StoreWriter": "writer",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from gateway.store.errors import StoreError
    from gateway.store.keys import (
        KEY_FILE,
        PUBLIC_KEY_FILE,
        KeyExists,
        NoKey,
        create_key,
        fingerprint,
        load_private_key,
        load_public_key,
    )
    from gateway.store.records import NewRecord, Record
    from gateway.store.schema import DB_FILE, open_reader
    from gateway.store.sink import StoreSink
    from gateway.store.stats import StoreStats
    from gateway.store.verify import Verifier, VerifyResult, verify_store
    from gateway.store.writer import Block, StoreWriter

__all__ = [
    "DB_FILE",
    "KEY_FILE",
    "PUBLIC_KEY_FILE",
    "Block",
    "KeyExists",
    "NewRecord",
    "NoKey",
    "Record",
    "StoreError",
    "StoreSink",
    "StoreStats",
    "StoreWriter",
    "Verifier",
    "VerifyResult",
    "create_key",
    "fingerprint",
    "load_private_key",
    "load_public_key",
    "open_reader",
    "verify_store",
]
