"""The commands of a gateway on its site: check-config, init, run, health, probe, scan, demo."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli.errors import CommandError, NotReady, load_gateway_config
from gateway.cli.options import (
    LIFECYCLE_LOGGER,
    config_option,
    json_option,
    setup_logging,
    verbose_option,
)

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo.toml"
EXIT_STORE_LOST = 3  # `wellgate run`: a store that existed is gone; systemd must not restart it
SECRET_FIELDS = ("password", "secret", "token", "api_key")  # config fields that hold a secret

log = logging.getLogger("gateway.cli")


def _secrets_in(value: Any, path: str = "") -> list[str]:
    """The key paths of the non-empty secret fields in a config's plain data."""
    if isinstance(value, dict):
        return [found for key, item in value.items()
                for found in ([f"{path}{key}"] if key in SECRET_FIELDS and item
                              else _secrets_in(item, f"{path}{key}."))]
    if isinstance(value, list):
        return [found for index, item in enumerate(value)
                for found in _secrets_in(item, f"{path.rstrip('.')}[{index}].")]
    return []


def exposed_secret(config_file: str, config: Any) -> str | None:
    """What is wrong when the config holds a secret and others than its owner can read it."""
    try:
        mode = stat.S_IMODE(os.stat(config_file).st_mode)
    except OSError:
        return None
    readers = [who for who, bit in (("group", 0o040), ("others", 0o004)) if mode & bit]
    fields = _secrets_in(config.model_dump()) if readers else []
    if not fields:
        return None
    return (f"{config_file} holds a secret ({', '.join(fields)}) and is readable by "
            f"{' and '.join(readers)} (mode {mode:04o}); make it the gateway user's alone: "
            f"chmod 600 {config_file}")


@click.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
def check_config(config_file: str) -> None:
    """Validate CONFIG_FILE: print every error (exit 2) or a summary (exit 0).

    \b
    Example:
      wellgate check-config /etc/wellgate/wellgate.toml
    """
    from gateway.accounting.plan import describe_plan
    from gateway.acquisition.busload import describe_bus_time
    from gateway.config import summarize

    config = load_gateway_config(config_file)
    click.echo(summarize(config, [*describe_bus_time(config), *describe_plan(config)]))
    warning = exposed_secret(config_file, config)
    if warning is not None:
        click.echo(f"warning: {warning}")


@click.command()
@config_option()
@verbose_option
def run(config_file: str, verbose: int) -> None:
    """Run the gateway: poll every bus into the signed store until stopped (SIGTERM or
    Ctrl-C). Needs the key made by `wellgate init`.

    \b
    Exit codes:
      0  stopped by SIGTERM or Ctrl-C
      2  the config has errors, there is no key, or the store cannot be used as it is
      3  a store that existed is missing, empty, unreadable or cut back (docs/store.md):
         restore it, or start a new chain knowingly with `wellgate init --new-chain`

    \b
    Example:
      wellgate run --config /etc/wellgate/wellgate.toml
    """
    from gateway.daemon import open_store, run_gateway
    from gateway.store import NoKey, StoreError
    from gateway.store.lost import StoreLost

    setup_logging(verbose)
    config = load_gateway_config(config_file)
    warning = exposed_secret(config_file, config)
    if warning is not None:
        log.warning("%s", warning)
    try:
        store = open_store(config)
    except NoKey:
        raise NotReady(f"no gateway key in {config.gateway.state_dir}: run "
                       f"`wellgate init --config {config_file}` first") from None
    except StoreLost as exc:
        raise CommandError(str(exc).replace("wellgate init --new-chain", "wellgate init "
                                            f"--new-chain --config {config_file}"),
                           exit_code=EXIT_STORE_LOST) from None
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    lifecycle = logging.getLogger(LIFECYCLE_LOGGER)
    lifecycle.info("%s", start_line(config_file, config, store))
    stopped_by = "stopped"
    try:
        asyncio.run(run_gateway(config, store))
    except BaseException as exc:
        stopped_by = f"stopped by {type(exc).__name__}: {exc}"
        raise
    finally:
        store.close()
        stats = store.stats
        lifecycle.info("wellgate %s: %d records in %d blocks committed this run, last seq %s, "
                       "%d dropped", stopped_by, stats.committed_records, stats.committed_blocks,
                       stats.last_seq, stats.dropped)


def start_line(config_file: str, config: Any, store: Any) -> str:
    """What a crew member needs from the log to know what started: version, files, key, meters,
    destinations (never a secret)."""
    from gateway import __version__
    from gateway.store import DB_FILE, fingerprint

    devices = ", ".join(f"{d.name} ({d.model} on {d.bus})" for d in config.devices) or "none"
    uplinks = ", ".join(f"{u.name} ({u.type})" for u in config.uplinks) or "none"
    return (f"wellgate {__version__} starting: config {Path(config_file).resolve()}, store "
            f"{Path(store.state_dir) / DB_FILE}, key {fingerprint(store.key.public_key())}; "
            f"{len(config.buses)} bus(es), devices: {devices}; uplinks: {uplinks}")


@click.command()
@config_option()
@json_option
def health(config_file: str, as_json: bool) -> None:
    """Show each device's bus health, as the running gateway last wrote it.

    \b
    Example:
      wellgate health --config /etc/wellgate/wellgate.toml --json
    """
    from gateway.daemon import read_health, runtime_dir
    from gateway.display import health_table

    config = load_gateway_config(config_file)
    snapshot = read_health(config)
    if snapshot is None:
        raise NotReady(f"no health snapshot in {runtime_dir(config)}: is the gateway running "
                       "(wellgate run)?", exit_code=1)
    click.echo(json.dumps(snapshot, indent=2) if as_json else health_table(snapshot))


@click.command()
@config_option()
@click.argument("device")
@click.option("--port", help="Use this serial port (or host:port for TCP) instead of the config's.")
@json_option
def probe(config_file: str, device: str, port: str | None, as_json: bool) -> None:
    """Read DEVICE once and print every decoded point with its unit.

    \b
    Example:
      wellgate probe --config site.toml flow-meter
    """
    from gateway.probe import probe_device

    config = load_gateway_config(config_file)
    sys.exit(asyncio.run(probe_device(config, device, port, as_json)))


@click.command()
@click.option("--port", required=True, help="Serial port, e.g. /dev/ttyUSB0.")
@click.option("--bauds", default="9600,2400,4800,19200,1200,38400", show_default=True)
@click.option("--parities", default="N,E", show_default=True)
@click.option("--ids", default="1-247", show_default=True, help="Modbus ids, e.g. 1-10,20.")
@click.option("--timeout", type=float, default=None,
              help="Seconds to wait per id (default: 0.1 s plus 30 character times).")
@click.option("--dlt645/--no-dlt645", default=True, show_default=True,
              help="Also try DL/T 645 read-address at each baud (8E1).")
@json_option
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


@click.command()
@click.option("--seconds", type=float, default=None, help="Stop after this long (default: Ctrl-C).")
@config_option("The simulated well's gateway config.", required=False, default=str(DEMO_CONFIG),
               show_default=True)
@click.option("--byte-time/--no-byte-time", default=True, show_default=True,
              help="Emulate RS-485 byte times at each bus's baud rate.")
@click.option("--time-scale", type=float, default=60.0, show_default=True,
              help="Simulated seconds per real second (pump cycles, drawdown).")
@click.option("--refresh", type=float, default=1.0, show_default=True)
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the demo's store (and its key) here; default: a temporary folder, "
                   "removed at the end.")
@click.option("--uplink/--no-uplink", default=True, show_default=True,
              help="Deliver to a local reference receiver (HTTPS), taken down for a while in "
                   "the middle of the run.")
def demo(seconds: float | None, config_file: str, byte_time: bool, time_scale: float,
         refresh: float, state_dir: Path | None, uplink: bool) -> None:
    """Start the simulated well and the gateway against it; show live readings and health,
    the signed store filling up with its chain verified, and its delivery to a local receiver
    (down for a while in the middle: the backlog grows, then drains).

    \b
    Example:
      wellgate demo --seconds 30
      wellgate demo --seconds 30 --state-dir /tmp/demo-store
    """
    from gateway.demo import run_demo

    config = load_gateway_config(config_file)
    asyncio.run(run_demo(config, seconds, byte_time, time_scale, refresh, state_dir, uplink))


@click.command()
@config_option("The gateway config: the key goes into its [gateway] state_dir.", required=False)
@click.option("--state-dir", type=click.Path(file_okay=False),
              help="The state directory itself (instead of --config).")
@click.option("--new-chain", is_flag=True,
              help="Keep the key; move a lost store (missing, empty, unreadable or cut back) "
                   "aside and start a new chain whose first record says why.")
def init(config_file: str | None, state_dir: str | None, new_chain: bool) -> None:
    """Create the state directory and the gateway's signing key; print the public key and its
    fingerprint, to register this gateway with the platform. Never replaces a key.

    With --new-chain, after `wellgate run` refused a lost store (exit 3): the old database is
    renamed to wellgate.db.lost-<UTC time>, and a new chain starts at seq 1 with a signed
    `new_chain` event (what was found, the old chain's next seq if known) that the platform
    receives first. Exit 1 if no store is lost. A one-off step on purpose, not a flag of
    `run`: a flag left in a service's command line would start a new chain at every loss.

    \b
    Example:
      wellgate init --config /etc/wellgate/wellgate.toml
      wellgate init --state-dir /var/lib/wellgate
      wellgate init --new-chain --config /etc/wellgate/wellgate.toml
    """
    from gateway.store import KEY_FILE, PUBLIC_KEY_FILE, KeyExists, StoreError, create_key
    from gateway.store.keys import fingerprint, grouped, public_pem

    if (config_file is None) == (state_dir is None):
        raise click.UsageError("give either --config FILE or --state-dir DIR")
    folder = Path(state_dir) if state_dir is not None else Path(
        load_gateway_config(config_file).gateway.state_dir)
    if new_chain:
        _new_chain(folder)
        return
    try:
        public = create_key(folder)
    except KeyExists as exc:
        raise CommandError(str(exc), exit_code=1) from None
    except (StoreError, OSError) as exc:
        raise CommandError(f"cannot create the key in {folder}: {exc}", exit_code=1) from None
    print_fingerprint = fingerprint(public)
    click.echo(f"created {folder / KEY_FILE} (the private key: mode 0600, never share it)")
    click.echo(f"and {folder / PUBLIC_KEY_FILE}:\n")
    click.echo(public_pem(public).decode("ascii"))
    click.echo(f"fingerprint (register it with the platform):\n  {print_fingerprint}\n"
               f"read aloud in groups:\n{grouped(print_fingerprint)}")


def _new_chain(folder: Path) -> None:
    """`init --new-chain`: start again where a store that existed is lost."""
    from gateway.store import StoreError, load_private_key
    from gateway.store.new_chain import start_new_chain

    try:
        done = start_new_chain(folder, load_private_key(folder))
    except (StoreError, OSError) as exc:
        raise CommandError(str(exc), exit_code=1) from None
    click.echo(f"found: {done.finding.describe()}")
    if done.moved_to is not None:
        click.echo(f"kept the old database as {done.moved_to}")
    click.echo(f"started a new chain in {done.finding.path}: seq {done.block.first_seq} is its "
               "new_chain event, the first record the platform will receive")


COMMANDS = (check_config, init, run, health, probe, scan, demo)
