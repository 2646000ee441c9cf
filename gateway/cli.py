"""The `wellgate` command line: a thin click layer over the gateway's rooms."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import click

from gateway import __version__

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "examples" / "demo.toml"


def _load(path: str):
    """Load a gateway config, or print every error and exit 2 (no traceback)."""
    from gateway.config import load_config
    from gateway.errors import ConfigError

    try:
        return load_config(Path(path))
    except ConfigError as exc:
        for line in exc.errors:
            click.echo(f"error: {line}", err=True)
        click.echo(f"{len(exc.errors)} error(s) in {path}; nothing was started.", err=True)
        sys.exit(2)


def _logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wellgate")
def cli() -> None:
    """wellgate: the edge gateway of a groundwater well.

    \b
    Examples:
      wellgate demo --seconds 20           run the gateway on the built-in simulated well
      wellgate check-config site.toml      validate a config before starting it
      wellgate run --config site.toml      the gateway itself (what systemd starts)
    """


@cli.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
def check_config(config_file: str) -> None:
    """Validate CONFIG_FILE: print every error (exit 2) or a summary (exit 0).

    \b
    Example:
      wellgate check-config /etc/wellgate/wellgate.toml
    """
    from gateway.config import summarize

    click.echo(summarize(_load(config_file)))


@cli.command()
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False),
              help="The gateway config (TOML).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def run(config_file: str, verbose: int) -> None:
    """Run the gateway: poll every bus until stopped (SIGTERM or Ctrl-C).

    \b
    Example:
      wellgate run --config /etc/wellgate/wellgate.toml
    """
    from gateway.daemon import run_gateway
    from gateway.readings import MemorySink

    _logging(verbose + 1)
    config = _load(config_file)
    # Until the signed store exists, readings are kept in memory (latest value per point).
    asyncio.run(run_gateway(config, MemorySink(history=0)))


@cli.command()
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def health(config_file: str, as_json: bool) -> None:
    """Show each device's bus health, as the running gateway last wrote it.

    \b
    Example:
      wellgate health --config /etc/wellgate/wellgate.toml --json
    """
    from gateway.daemon import read_health, runtime_dir
    from gateway.display import health_table

    snapshot = read_health(_load(config_file))
    if snapshot is None:
        click.echo(f"no health snapshot in {runtime_dir(_load(config_file))}: "
                   "is the gateway running (wellgate run)?", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(snapshot, indent=2))
    else:
        click.echo(health_table(snapshot))


@cli.command()
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False))
@click.argument("device")
@click.option("--port", help="Use this serial port (or host:port for TCP) instead of the config's.")
@click.option("--json", "as_json", is_flag=True)
def probe(config_file: str, device: str, port: str | None, as_json: bool) -> None:
    """Read DEVICE once and print every decoded point with its unit.

    \b
    Example:
      wellgate probe --config site.toml flow-meter
    """
    from gateway.probe import probe_device

    config = _load(config_file)
    sys.exit(asyncio.run(probe_device(config, device, port, as_json)))


@cli.command()
@click.option("--port", required=True, help="Serial port, e.g. /dev/ttyUSB0.")
@click.option("--bauds", default="9600,2400,4800,19200,1200,38400", show_default=True)
@click.option("--parities", default="N,E", show_default=True)
@click.option("--ids", default="1-247", show_default=True, help="Modbus ids, e.g. 1-10,20.")
@click.option("--timeout", type=float, default=None,
              help="Seconds to wait per id (default: 0.1 s plus 30 character times).")
@click.option("--dlt645/--no-dlt645", default=True, show_default=True,
              help="Also try DL/T 645 read-address at each baud (8E1).")
@click.option("--json", "as_json", is_flag=True)
def scan(port: str, bauds: str, parities: str, ids: str, timeout: float | None, dlt645: bool,
         as_json: bool) -> None:
    """Find the meters on a bus: sweep baud x parity x id, and match profiles.

    \b
    Example:
      wellgate scan --port /dev/ttyUSB0 --bauds 9600 --ids 1-10
    """
    from gateway.scan import parse_bauds, parse_ids, parse_parities, run_scan

    parsed = {}
    for name, parse, text in (("--ids", parse_ids, ids), ("--bauds", parse_bauds, bauds),
                              ("--parities", parse_parities, parities)):
        try:
            parsed[name] = parse(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=name) from None
    id_list, baud_list, parity_list = parsed["--ids"], parsed["--bauds"], parsed["--parities"]
    sys.exit(asyncio.run(run_scan(port, baud_list, parity_list, id_list, timeout, dlt645,
                                  as_json)))


@cli.command()
@click.option("--seconds", type=float, default=None, help="Stop after this long (default: Ctrl-C).")
@click.option("--config", "config_file", default=str(DEMO_CONFIG), show_default=True,
              type=click.Path(dir_okay=False), help="The simulated well's gateway config.")
@click.option("--byte-time/--no-byte-time", default=True, show_default=True,
              help="Emulate RS-485 byte times at each bus's baud rate.")
@click.option("--time-scale", type=float, default=60.0, show_default=True,
              help="Simulated seconds per real second (pump cycles, drawdown).")
@click.option("--refresh", type=float, default=1.0, show_default=True)
def demo(seconds: float | None, config_file: str, byte_time: bool, time_scale: float,
         refresh: float) -> None:
    """Start the simulated well and the gateway against it; show live readings and health.

    \b
    Example:
      wellgate demo --seconds 30
    """
    from gateway.demo import run_demo

    config = _load(config_file)
    asyncio.run(run_demo(config, seconds, byte_time, time_scale, refresh))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="wellgate")
