"""The commands on the signed store and its delivery: verify, export, status."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli.errors import CommandError, load_gateway_config, open_store_file
from gateway.cli.options import config_option, json_option

PROGRESS_FROM = 20_000  # records: below this a job is over before a bar would help


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, steps: int) -> None:
        pass


def _progress_bar(length: int, label: str) -> Any:
    """A progress bar on stderr, for long jobs on a terminal only."""
    if length < PROGRESS_FROM or not sys.stderr.isatty():
        return _NoProgress()
    return click.progressbar(length=length, label=label, file=sys.stderr, show_eta=True,
                             show_percent=True)


@click.command()
@click.option("--db", required=True, type=click.Path(dir_okay=False),
              help="The store, e.g. /var/lib/wellgate/wellgate.db.")
@click.option("--pubkey", type=click.Path(dir_okay=False),
              help="The gateway's public key (PEM). Default: gateway.pub beside the store.")
def verify(db: str, pubkey: str | None) -> None:
    """Check every block signature, the hash chain through every record and seq continuity,
    then SQLite's own check of the whole file; print OK with counts (exit 0), or the first bad
    seq and what is wrong there, or "the database file is damaged: ..." when SQLite cannot read
    it (exit 1). Exit 2 when it cannot run (no such file, no key, not a wellgate store).
    Reads a consistent snapshot while the gateway keeps writing.

    \b
    Example:
      wellgate verify --db /var/lib/wellgate/wellgate.db
      wellgate verify --db copy-of-wellgate.db --pubkey registered-gateway.pub
    """
    from gateway.store import PUBLIC_KEY_FILE, StoreError, fingerprint, load_public_key

    key_path = Path(pubkey) if pubkey is not None else Path(db).parent / PUBLIC_KEY_FILE
    try:
        key = load_public_key(key_path)
    except StoreError as exc:
        raise CommandError(f"{exc}; give the gateway's public key with --pubkey FILE") from None
    click.echo(f"public key {key_path} ({fingerprint(key)})")
    result = _verify_file(db, key)
    click.echo(result.summary())
    sys.exit(0 if result.ok else 1)


WELLGATE_TABLES = ("records", "blocks", "meta", "_sqlite_migrations")


def _verify_file(db: str, key: Any) -> Any:
    """The verify result of the store file `db`; CommandError (exit 2) when it cannot run."""
    from gateway.store import Verifier, open_reader, queries
    from gateway.store.verify import damaged, is_damage

    try:
        conn = open_reader(Path(db))
    except FileNotFoundError:
        raise CommandError(f"no store file {db}") from None
    except sqlite3.Error as exc:
        raise CommandError(f"cannot read {db}: {exc}") from None
    try:
        tables = queries.table_names(conn)
        if not tables & set(WELLGATE_TABLES):
            raise CommandError(f"{db} is not a wellgate store (no wellgate schema in it)")
        missing = [name for name in WELLGATE_TABLES if name not in tables]
        if missing:
            return damaged(sqlite3.DatabaseError(f"the table(s) {', '.join(missing)} are "
                                                 "missing from its schema"))
        high, low = queries.seq_span(conn)
        length = high - low + 1 if high else 0
        with _progress_bar(length, "verifying") as bar:
            return Verifier(key, progress=bar.update, file_check=True).check(conn)
    except sqlite3.Error as exc:
        if not is_damage(exc):
            raise CommandError(f"cannot read {db}: {exc}") from None
        return damaged(exc)
    finally:
        conn.close()


@click.command()
@click.option("--db", required=True, type=click.Path(dir_okay=False),
              help="The store, e.g. /var/lib/wellgate/wellgate.db.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True, help="JSON lines (one record per line) or CSV with a header.")
@click.option("--since", help="From this seq (e.g. 1200) or ISO time "
                              "(e.g. 2025-06-01T08:00:00+08:00; no offset: local time).")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write to this file (default: standard output).")
def export(db: str, fmt: str, since: str | None, output: str | None) -> None:
    """Write the stored records as JSON lines or CSV, oldest first (thinned records are left
    out). A progress bar on stderr follows long exports.

    \b
    Example:
      wellgate export --db /var/lib/wellgate/wellgate.db --format csv --since 2025-06-01 -o june.csv
    """
    from gateway.store.export import export_records, parse_since, seq_span

    try:
        since_seq, since_wall = parse_since(since) if since is not None else (None, None)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    conn = open_store_file(db)
    span = seq_span(conn, since_seq)
    out = sys.stdout if output is None else open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115
    try:
        with _progress_bar(0 if span is None else span[1] - span[0] + 1, "exporting") as bar:
            start = span[0] - 1 if span is not None else 0
            reached = [start]

            def progress(seq: int) -> None:
                bar.update(seq - reached[0])
                reached[0] = seq

            written = export_records(conn, out, fmt, since_seq, since_wall, progress)
    finally:
        if out is not sys.stdout:
            out.close()
        conn.close()
    if output is not None:
        click.echo(f"{written} records written to {output}", err=True)


@click.command()
@config_option()
@json_option
def status(config_file: str, as_json: bool) -> None:
    """Show each uplink's backlog (records, age of the oldest), last success and last error.

    \b
    Example:
      wellgate status --config /etc/wellgate/wellgate.toml
    """
    from gateway.uplink.status import format_status, uplink_status

    rows = uplink_status(load_gateway_config(config_file))
    click.echo(json.dumps(rows, indent=2) if as_json else format_status(rows))

