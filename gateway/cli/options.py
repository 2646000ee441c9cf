"""The options several commands share, each declared once: --config, --json and -v."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from gateway.cli.journal import journal_handler, priority

F = TypeVar("F", bound=Callable[..., Any])

GATEWAY_CONFIG = "The gateway config (TOML)."
PLATFORM_CONFIG = "The receiver's config (TOML)."


def config_option(help: str = GATEWAY_CONFIG, *, required: bool = True,
                  **settings: Any) -> Callable[[F], F]:
    """`--config FILE`, passed to the command as `config_file` (required unless told)."""
    return click.option("--config", "config_file", required=required,
                        type=click.Path(dir_okay=False), help=help, **settings)


def json_option(command: F) -> F:
    """`--json`, passed as `as_json`: print what the command shows as JSON instead."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Machine-readable output.")(command)


def verbose_option(command: F) -> F:
    """`-v`/`-vv`, passed as `verbose`: more log output."""
    return click.option("-v", "--verbose", count=True,
                        help="More log output (-vv for debug).")(command)


LIFECYCLE_LOGGER = "wellgate"  # start and stop lines: logged at INFO whatever -v says


class _JournalPriority(logging.Filter):
    """Adds `priority`, the record's syslog priority, for the "<N>" prefix."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.priority = priority(record.levelno)  # journald reads a "<N>" prefix as it
        return True


def setup_logging(verbose: int) -> None:
    """Log to stderr: warnings, -v info, -vv debug. Under journald (JOURNAL_STREAM set) each
    line carries its priority as a "<N>" prefix and no timestamp: the journal adds its own; when
    JOURNAL_STREAM is stderr's own and the journal's socket is there, records go to it with
    their fields (gateway/cli/journal.py), the "<N>" line being the fallback."""
    level = logging.WARNING - 10 * min(verbose, 2)
    handler: logging.Handler = logging.StreamHandler()
    if os.environ.get("JOURNAL_STREAM"):
        handler.addFilter(_JournalPriority())
        handler.setFormatter(logging.Formatter("<%(priority)d>%(name)s: %(message)s"))
        handler = journal_handler(handler) or handler
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger(LIFECYCLE_LOGGER).setLevel(min(level, logging.INFO))
