"""The options several commands share, each declared once: --config, --json and -v."""

from __future__ import annotations

import logging
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


def setup_logging(verbose: int) -> None:
    """Log to stderr: warnings, -v info, -vv debug."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
