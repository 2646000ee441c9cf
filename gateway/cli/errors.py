"""Where the library's errors become click exceptions (message on stderr, exit code, no
traceback), and the loaders of configs and stores that raise them for every command."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from gateway.config import GatewayConfig
    from gateway.platform.config import PlatformConfig


class CommandError(click.ClickException):
    """A command that cannot do its job: `error: <message>` on stderr, exit 2 (or `exit_code`)."""

    prefix = "error: "

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"{self.prefix}{self.format_message()}", file=file, err=True)


class NotReady(CommandError):
    """Nothing to work on yet (no key, no snapshot, nothing accounted): the message as it is."""

    prefix = ""


class InvalidConfig(CommandError):
    """A config file with errors: `error: <problem>` for each, then how many; exit 2."""

    prefix = ""

    def __init__(self, path: str, errors: list[str]) -> None:
        lines = [f"error: {line}" for line in errors]
        lines.append(f"{len(errors)} error(s) in {path}; nothing was started.")
        super().__init__("\n".join(lines))


def load_gateway_config(path: str) -> GatewayConfig:
    """The gateway config in `path`, or InvalidConfig listing every problem."""
    from gateway.config import load_config
    from gateway.errors import ConfigError

    try:
        return load_config(Path(path))
    except ConfigError as exc:
        raise InvalidConfig(path, exc.errors) from None


def load_platform(path: str, check_ack_key: bool = True) -> PlatformConfig:
    """The receiver's config in `path`, or InvalidConfig listing every problem."""
    from gateway.errors import ConfigError
    from gateway.platform.config import load_platform_config

    try:
        return load_platform_config(Path(path), check_ack_key)
    except ConfigError as exc:
        raise InvalidConfig(path, exc.errors) from None


def open_store_file(db: str) -> sqlite3.Connection:
    """A read-only connection to a wellgate store, or CommandError saying why not."""
    from gateway.store import open_reader
    from gateway.store.schema import applied_migrations

    try:
        conn = open_reader(Path(db))
        if not applied_migrations(conn):
            raise CommandError(f"{db} is not a wellgate store (no wellgate schema in it)")
    except FileNotFoundError:
        raise CommandError(f"no store file {db}") from None
    except sqlite3.DatabaseError as exc:
        raise CommandError(f"cannot read {db}: {exc}") from None
    return conn
