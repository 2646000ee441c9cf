"""The commands of a gateway on its site: check-config, init, run, health, probe, scan, demo."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import stat
import sys
import time
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
from gateway.errors import SECRET_FIELDS
from gateway.shipped import shipped_dir

DEMO_CONFIG = shipped_dir("examples") / "demo.toml"
EXIT_STORE_LOST = 3  # `wellgate run`: a store that existed is gone; systemd must not restart it
EXIT_STALE = 3  # `wellgate health`: the snapshot no longer speaks for a running gateway

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


def check_status_token(config_file: str, config: Any) -> str | None:
    """InvalidConfig when [status]'s token file is missing, empty or short; the warning to give
    when others than its owner may read it (None: nothing to say)."""
    if config.status is None:
        return None
    from gateway.cli.errors import InvalidConfig
    from gateway.config.status import exposed_token, token_problems
    from gateway.errors import format_problem

    path = config.config_path(config.status.token_file)
    problems = list(token_problems(config.status, path))
    if problems:
        text = Path(config_file).read_text(encoding="utf-8")
        raise InvalidConfig(config_file, [format_problem(p, config_file, text) for p in problems])
    return exposed_token(path)


@click.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
def check_config(config_file: str) -> None:
    """Validate CONFIG_FILE: print every error (exit 2) or a summary (exit 0).

    \b
    Example:
      wellgate check-config /etc/wellgate/wellgate.toml
    """
    from gateway.accounting.calibrate import describe_stored
    from gateway.accounting.plan import describe_plan
    from gateway.acquisition.busload import describe_bus_time
    from gateway.config import summarize

    config = load_gateway_config(config_file)
    token_warning = check_status_token(config_file, config)
    stored = (describe_stored(Path(config.gateway.state_dir), config.well.timezone)
              if config.well.accounting is not None else None)
    click.echo(summarize(config, [*describe_bus_time(config), *describe_plan(config),
                                  *([stored] if stored else [])]))
    for warning in (exposed_secret(config_file, config), token_warning):
        if warning is not None:
            click.echo(f"warning: {warning}")


@click.command()
@config_option()
@verbose_option
def run(config_file: str, verbose: int) -> None:
    """Run the gateway: poll every bus into the signed store until stopped (SIGTERM or
    Ctrl-C). SIGHUP reads the config again and applies it, or refuses it and says why. Needs
    the key made by `wellgate init`.

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

    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload asked while starting: not a kill
    setup_logging(verbose)
    config = load_gateway_config(config_file)
    for warning in (exposed_secret(config_file, config),
                    check_status_token(config_file, config)):
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
    """Show each device's bus health, as the running gateway last wrote it. When the gateway
    is not running (it stopped, its PID is gone) or its snapshot is older than it should be,
    say "stale" and why, show the last snapshot, and exit 3.

    \b
    Exit codes:
      0  the gateway runs and its snapshot is fresh
      1  no snapshot: the gateway has not run with this config's runtime_dir
      3  stale: the gateway is not running, or is hung

    \b
    Example:
      wellgate health --config /etc/wellgate/wellgate.toml --json
    """
    from gateway.daemon import HEALTH_FILE, read_health, runtime_dir
    from gateway.display import health_table
    from gateway.liveness import staleness

    config = load_gateway_config(config_file)
    snapshot = read_health(config)
    if snapshot is None:
        raise NotReady(f"no health snapshot in {runtime_dir(config)}: is the gateway running "
                       "(wellgate run)?", exit_code=1)
    stale = staleness(snapshot)
    if as_json:
        click.echo(json.dumps({**snapshot, "stale": stale}, indent=2))
    else:
        if stale is None:
            click.echo(f"gateway running (PID {snapshot.get('pid', '?')}); snapshot written "
                       f"{max(0.0, time.time() - snapshot['written_at']):.1f} s ago")
        else:
            click.echo(f"stale: {stale}; below is its last snapshot "
                       f"({runtime_dir(config) / HEALTH_FILE})")
        click.echo(health_table(snapshot))
    if stale is not None:
        sys.exit(EXIT_STALE)


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
@click.option("--bauds", default=None,
              help="Baud rates to try, e.g. 9600,2400 [default: 9600,2400,4800,19200; --full: "
                   "every standard rate].")
@click.option("--parities", default=None,
              help="Parities to try, e.g. N,E [default: N,E; --full: N,E,O].")
@click.option("--ids", default=None,
              help="Modbus ids, e.g. 1-10,20 [default: 1-10; --full: 1-247].")
@click.option("--full", is_flag=True,
              help="Sweep every standard baud, parity N/E/O and id 1-247 (can take an hour).")
@click.option("--timeout", type=float, default=None,
              help="Seconds to wait per id (default: 0.1 s plus 30 character times).")
@click.option("--dlt645/--no-dlt645", default=True, show_default=True,
              help="First try DL/T 645 read-address at each baud (8E1).")
@click.option("--bus-name", default="rs485-1", show_default=True,
              help="The bus's name in the config snippet printed.")
@json_option
def scan(port: str, bauds: str | None, parities: str | None, ids: str | None, full: bool,
         timeout: float | None, dlt645: bool, bus_name: str, as_json: bool) -> None:
    """Find the meters on a bus and say what they are: sweep the common line settings and ids
    (a minute at most on a typical bus), match each answering device to a profile, and print
    each in words and the [[buses]] and [[devices]] config to paste. A progress bar on stderr
    names what is being tried (not with --json or when stderr is not a terminal). Exit 1 when
    nothing answered.

    \b
    Example:
      wellgate scan --port /dev/ttyUSB0
      wellgate scan --port /dev/ttyUSB0 --bauds 9600 --ids 1-20
      wellgate scan --port /dev/ttyUSB0 --full
    """
    from gateway.scan import parse_bauds, parse_ids, parse_parities, run_scan, sweep_defaults

    default = sweep_defaults(full)
    parsed = {}
    for name, parse, text in (("--ids", parse_ids, ids or default["ids"]),
                              ("--bauds", parse_bauds, bauds or default["bauds"]),
                              ("--parities", parse_parities, parities or default["parities"])):
        try:
            parsed[name] = parse(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=name) from None
    id_list, baud_list, parity_list = parsed["--ids"], parsed["--bauds"], parsed["--parities"]
    sys.exit(asyncio.run(run_scan(port, baud_list, parity_list, id_list, timeout, dlt645,
                                  as_json, full=full, bus_name=bus_name)))


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
@click.option("--centre", type=click.Choice(["sl427", "sl651"]), default=None,
              help="Report to a local centre-station simulator instead, in SL/T 427-2021 or SL "
                   "651-2014 (HEX), showing the frames exchanged.")
@click.option("--frames", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --centre: write every frame to this file, `up HEX` or `down HEX`, a "
                   "line each.")
def demo(seconds: float | None, config_file: str, byte_time: bool, time_scale: float,
         refresh: float, state_dir: Path | None, uplink: bool, centre: str | None,
         frames: Path | None) -> None:
    """Start the simulated well and the gateway against it; show live readings and health,
    the signed store filling up with its chain verified, and its delivery to a local receiver
    (down for a while in the middle: the backlog grows, then drains).

    \b
    Example:
      wellgate demo --seconds 30
      wellgate demo --seconds 30 --state-dir /tmp/demo-store
      wellgate demo --seconds 25 --centre sl651 --frames frames.txt
    """
    from gateway.demo import run_demo

    if frames is not None and centre is None:
        raise click.BadParameter("--frames needs --centre sl427 or sl651", param_hint="--frames")
    config = load_gateway_config(config_file)
    asyncio.run(run_demo(config, seconds, byte_time, time_scale, refresh, state_dir, uplink,
                         centre, frames))


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

