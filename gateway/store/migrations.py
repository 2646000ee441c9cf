"""The store's schema as named sqlite-utils migrations, the set "wellgate" (docs/store.md).

A later schema change is a new function decorated with `@MIGRATIONS()` below the others, and its
name added to SCHEMA in gateway/store/schema.py (a writer open applies migrations only when one
named there is missing from the database); never edit one that has shipped. The tables are
described in gateway/store/schema.py. Imported only when a database needs a migration.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gateway.store.schema import MIGRATION_SET

MIGRATIONS = Migrations(MIGRATION_SET)


@MIGRATIONS()
def m001_records_blocks_meta_deliveries(db: Database) -> None:
    db.execute("""
        CREATE TABLE records (
            seq INTEGER PRIMARY KEY,
            kind TEXT,
            device TEXT,
            point TEXT,
            value,
            unit TEXT,
            quality TEXT,
            raw BLOB,
            wall_time REAL,
            mono_time REAL,
            boot INTEGER,
            data TEXT,
            leaf_prefix BLOB,
            leaf BLOB
        )""")
    db.execute("""
        CREATE TABLE blocks (
            block_no INTEGER PRIMARY KEY,
            first_seq INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            count INTEGER NOT NULL,
            prev_head BLOB NOT NULL,
            head BLOB NOT NULL,
            signed_wall REAL NOT NULL,
            signature BLOB NOT NULL
        )""")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value)")
    db.execute("""
        CREATE TABLE deliveries (
            destination TEXT PRIMARY KEY,
            acked_seq INTEGER NOT NULL,
            updated_wall REAL
        )""")
    db.execute("INSERT INTO meta (key, value) VALUES ('next_seq', 1), ('boot', 0), "
               "('chain', 'wellgate-block-v1'), ('thinned_through', 0)")
