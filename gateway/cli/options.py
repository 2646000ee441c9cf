"""The options several commands share, each declared once: --config, --json and -v."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

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


# syslog priorities (sd-daemon(3)): journald reads a "<N>" prefix on each line as the priority
_PRIORITIES = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
               logging.DEBUG: 7}
LIFECYCLE_LOGGER = "wellgate"  # start and stop lines: logged at INFO whatever -v says


class _JournalPriority(logging.Filter):
    """Adds `priority`, the record's syslog priority, for the "<N>" prefix."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.priority = next((priority for level, priority in _PRIORITIES.items()
                                if record.levelno >= level), 7)
        return True


def setup_logging(verbose: int) -> None:
    """Log to stderr: warnings, -v info, -vv debug. Under journald (JOURNAL_STREAM set) each
    line carries its priority as a "<N>" prefix and no timestamp: the journal adds its own."""
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler()
    if os.environ.get("JOURNAL_STREAM"):
        handler.addFilter(_JournalPriority())
        handler.setFormatter(logging.Formatter("<%(priority)d>%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger(LIFECYCLE_LOGGER).setLevel(min(level, logging.INFO))
