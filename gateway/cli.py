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
      wellgate init --config site.toml     create the state directory and signing key
      wellgate run --config site.toml      the gateway itself (what systemd starts)
      wellgate verify --db /var/lib/wellgate/wellgate.db   check the signed store
    """


@cli.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
def check_config(config_file: str) -> None:
    """Validate CONFIG_FILE: print every error (exit 2) or a summary (exit 0).

    \b
    Example:
      wellgate check-config /etc/wellgate/wellgate.toml
    """
    from gateway.accounting.plan import describe_plan
    from gateway.config import summarize

    config = _load(config_file)
    click.echo(summarize(config, describe_plan(config)))


@cli.command()
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False),
              help="The gateway config (TOML).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def run(config_file: str, verbose: int) -> None:
    """Run the gateway: poll every bus into the signed store until stopped (SIGTERM or
    Ctrl-C). Needs the key made by `wellgate init`.

    \b
    Example:
      wellgate run --config /etc/wellgate/wellgate.toml
    """
    from gateway.daemon import open_store, run_gateway
    from gateway.store import NoKey, StoreError

    _logging(verbose + 1)
    config = _load(config_file)
    try:
        store = open_store(config)
    except NoKey:
        click.echo(f"no gateway key in {config.gateway.state_dir}: run "
                   f"`wellgate init --config {config_file}` first", err=True)
        sys.exit(2)
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    try:
        asyncio.run(run_gateway(config, store))
    finally:
        store.close()


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

    config = _load(config_file)
    asyncio.run(run_demo(config, seconds, byte_time, time_scale, refresh, state_dir, uplink))


@cli.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="The gateway config: the key goes into its [gateway] state_dir.")
@click.option("--state-dir", type=click.Path(file_okay=False),
              help="The state directory itself (instead of --config).")
def init(config_file: str | None, state_dir: str | None) -> None:
    """Create the state directory and the gateway's signing key; print the public key and its
    fingerprint, to register this gateway with the platform. Never replaces a key.

    \b
    Example:
      wellgate init --config /etc/wellgate/wellgate.toml
      wellgate init --state-dir /var/lib/wellgate
    """
    from gateway.store import KEY_FILE, PUBLIC_KEY_FILE, KeyExists, StoreError, create_key
    from gateway.store.keys import fingerprint, grouped, public_pem

    if (config_file is None) == (state_dir is None):
        raise click.UsageError("give either --config FILE or --state-dir DIR")
    folder = Path(state_dir) if state_dir is not None else Path(
        _load(config_file).gateway.state_dir)
    try:
        public = create_key(folder)
    except KeyExists as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except (StoreError, OSError) as exc:
        click.echo(f"error: cannot create the key in {folder}: {exc}", err=True)
        sys.exit(1)
    print_fingerprint = fingerprint(public)
    click.echo(f"created {folder / KEY_FILE} (the private key: mode 0600, never share it)")
    click.echo(f"and {folder / PUBLIC_KEY_FILE}:\n")
    click.echo(public_pem(public).decode("ascii"))
    click.echo(f"fingerprint (register it with the platform):\n  {print_fingerprint}\n"
               f"read aloud in groups:\n{grouped(print_fingerprint)}")


def _open_store_file(db: str):
    """A read-only connection to a store, or exit 2 saying why not."""
    import sqlite3

    from gateway.store import open_reader
    from gateway.store.schema import applied_migrations

    try:
        conn = open_reader(Path(db))
        if not applied_migrations(conn):
            click.echo(f"error: {db} is not a wellgate store (no wellgate schema in it)",
                       err=True)
            sys.exit(2)
    except FileNotFoundError:
        click.echo(f"error: no store file {db}", err=True)
        sys.exit(2)
    except sqlite3.DatabaseError as exc:
        click.echo(f"error: cannot read {db}: {exc}", err=True)
        sys.exit(2)
    return conn


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, steps: int) -> None:
        pass


PROGRESS_FROM = 20_000  # records: below this a job is over before a bar would help


def _progress_bar(length: int, label: str):
    """A progress bar on stderr, for long jobs on a terminal only."""
    if length < PROGRESS_FROM or not sys.stderr.isatty():
        return _NoProgress()
    return click.progressbar(length=length, label=label, file=sys.stderr, show_eta=True,
                             show_percent=True)


@cli.command()
@click.option("--db", required=True, type=click.Path(dir_okay=False),
              help="The store, e.g. /var/lib/wellgate/wellgate.db.")
@click.option("--pubkey", type=click.Path(dir_okay=False),
              help="The gateway's public key (PEM). Default: gateway.pub beside the store.")
def verify(db: str, pubkey: str | None) -> None:
    """Check every block signature, the hash chain through every record and seq continuity;
    print OK with counts (exit 0) or the first bad seq and what is wrong there (exit 1).
    Reads a consistent snapshot while the gateway keeps writing.

    \b
    Example:
      wellgate verify --db /var/lib/wellgate/wellgate.db
      wellgate verify --db copy-of-wellgate.db --pubkey registered-gateway.pub
    """
    from gateway.store import PUBLIC_KEY_FILE, StoreError, Verifier, fingerprint, load_public_key

    key_path = Path(pubkey) if pubkey is not None else Path(db).parent / PUBLIC_KEY_FILE
    try:
        key = load_public_key(key_path)
    except StoreError as exc:
        click.echo(f"error: {exc}; give the gateway's public key with --pubkey FILE", err=True)
        sys.exit(2)
    click.echo(f"public key {key_path} ({fingerprint(key)})")
    conn = _open_store_file(db)
    low, high = conn.execute("SELECT min(first_seq), max(last_seq) FROM blocks").fetchone()
    with _progress_bar(0 if low is None else high - low + 1, "verifying") as bar:
        result = Verifier(key, progress=bar.update).check(conn)
    conn.close()
    click.echo(result.summary())
    sys.exit(0 if result.ok else 1)


@cli.command()
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
    conn = _open_store_file(db)
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


@cli.command()
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(config_file: str, as_json: bool) -> None:
    """Show each uplink's backlog (records, age of the oldest), last success and last error.

    \b
    Example:
      wellgate status --config /etc/wellgate/wellgate.toml
    """
    from gateway.uplink.status import format_status, uplink_status

    rows = uplink_status(_load(config_file))
    click.echo(json.dumps(rows, indent=2) if as_json else format_status(rows))


def _accounting_view(config_file: str):
    """(config, view of the newest accounting checkpoint) or exit: 2 without [well.accounting]
    or a store, 1 when nothing is accounted yet."""
    from gateway.accounting.report import load_view
    from gateway.store import DB_FILE

    config = _load(config_file)
    if config.well.accounting is None:
        click.echo(f"error: {config_file} has no [well.accounting] table: nothing is "
                   "accounted", err=True)
        sys.exit(2)
    conn = _open_store_file(str(Path(config.gateway.state_dir) / DB_FILE))
    try:
        view = load_view(conn, config.well.timezone)
    finally:
        conn.close()
    if view is None:
        click.echo("nothing accounted yet: is the gateway running (wellgate run)?", err=True)
        sys.exit(1)
    return config, view


@cli.command()
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False))
@click.option("--date", "day", help="A local date, YYYY-MM-DD (default: the last day "
                                    "accounted).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def totals(config_file: str, day: str | None, as_json: bool) -> None:
    """Show the water used on a day, in its month and its year (the well's local time), metered
    (flow meter) and derived (以电折水), and the year against the well's allocation. Reads the
    store read-only; the gateway keeps running.

    \b
    Example:
      wellgate totals --config /etc/wellgate/wellgate.toml
      wellgate totals --config site.toml --date 2025-12-31 --json
    """
    from datetime import date

    from gateway.accounting.plan import build_plan
    from gateway.accounting.report import format_totals, totals_data

    config, view = _accounting_view(config_file)
    try:
        when = date.fromisoformat(day) if day else view.ledger.local_date(
            view.accounted_to or 0.0)
    except ValueError:
        raise click.BadParameter(f"{day!r} is not a date; expected YYYY-MM-DD",
                                 param_hint="--date") from None
    plan = build_plan(config)
    data = totals_data(view, when, plan.allocation, plan.counting_source, config.well.timezone)
    click.echo(json.dumps(data, indent=2) if as_json else format_totals(data, config.well.id))


@cli.command()
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def alarms(config_file: str, as_json: bool) -> None:
    """Show the meter-health alarms raised now (since when, and why) and the recent ones with
    their raise and clear times. Reads the store read-only.

    \b
    Example:
      wellgate alarms --config /etc/wellgate/wellgate.toml
    """
    from gateway.accounting.report import alarms_data, format_alarms

    config, view = _accounting_view(config_file)
    data = alarms_data(view, config.well.timezone)
    click.echo(json.dumps(data, indent=2) if as_json else format_alarms(data, config.well.id))


@cli.command()
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False))
@click.option("--duration", type=float, default=None,
              help="Seconds of readings per run (default and least: the config's "
                   "[well.accounting.calibration] min_duration_s).")
@click.option("--runs", type=click.IntRange(1, 20), default=None,
              help="Accepted runs to combine (default: the config's runs_required).")
@click.option("--yes", is_flag=True, help="Store the result without asking.")
@click.option("--timeout", type=float, default=None,
              help="Give a run up after this many seconds (default: twice its duration + 60).")
def calibrate(config_file: str, duration: float | None, runs: int | None, yes: bool,
              timeout: float | None) -> None:
    """Calibrate 以电折水 (率定): while the pump runs steadily, compare the temporarily installed
    reference flow meter ([well.accounting.calibration] reference_device, polled by the running
    gateway) with the pump's energy meter; show progress and the running estimate, refuse
    unstable or short runs saying why, and give k (and η where the head is known) with its
    uncertainty. On confirmation it is stored as the well's next coefficient version.

    \b
    Example:
      wellgate calibrate --config /etc/wellgate/wellgate.toml --runs 2
    """
    import time as clock
    from dataclasses import replace
    from datetime import datetime

    from gateway.accounting import calibrate as cal
    from gateway.accounting.calibration import CalibrationRefused
    from gateway.accounting.plan import build_plan, calibration_params
    from gateway.store import DB_FILE

    config = _load(config_file)
    accounting = config.well.accounting
    if accounting is None or accounting.calibration.reference_device is None:
        click.echo(f"error: {config_file} names no reference flow meter: set "
                   "[well.accounting.calibration] reference_device", err=True)
        sys.exit(2)
    settings = accounting.calibration
    params = calibration_params(settings)
    length = params.min_duration_s if duration is None else duration
    if length < params.min_duration_s:
        click.echo(f"error: --duration {length:g} s is shorter than the {params.min_duration_s:g}"
                   f" s a run must last (min_duration_s)", err=True)
        sys.exit(2)
    plan = build_plan(config)
    try:
        sources = cal.sources_of(plan, settings.reference_device)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    state_dir = Path(config.gateway.state_dir)
    conn = _open_store_file(str(state_dir / DB_FILE))
    start = conn.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0]
    tail = cal.SampleTail(conn, sources, start)
    wanted = runs or params.runs_required
    params = replace(params, runs_required=wanted)
    click.echo(f"calibrating {config.well.id}: reference {sources.reference}, energy "
               f"{sources.energy}; {wanted} run(s) of {length:g} s of readings, pump running "
               "steadily throughout")
    bar_holder: dict = {}

    def progress(elapsed: float, k: float | None, samples: int) -> None:
        bar = bar_holder.get("bar")
        if bar is not None:
            shown = f"k ≈ {k:.4f} m³/kWh ({samples} samples)" if k else f"{samples} samples"
            bar.update(int(elapsed) - bar.pos, shown)

    def report(attempt: int, result, reasons: str) -> None:
        bar = bar_holder.pop("bar", None)
        if bar is not None:
            bar.render_finish()
        if result is None:
            click.echo(f"run {attempt} refused: {reasons}")
        else:
            click.echo(f"run {attempt} accepted: k = {result.k_m3_per_kwh:.4f} ± "
                       f"{result.expanded_uncertainty:.4f} m³/kWh from {result.volume_m3:.3f} "
                       f"m³ and {result.energy_kwh:.3f} kWh in {result.duration_s:.0f} s "
                       f"(parts spread {result.spread:.1%})")

    def wait() -> None:
        if "bar" not in bar_holder:
            bar_holder["bar"] = click.progressbar(
                length=int(length), label="run", show_eta=False, show_percent=True,
                item_show_func=lambda text: text, file=sys.stderr)
            bar_holder["bar"].__enter__()
        clock.sleep(0.5)

    try:
        result, summaries = cal.run_runs(
            tail, params, length, wanted, progress, report, wait,
            timeout if timeout is not None else 2 * length + 60, max_attempts=2 * wanted + 1)
    except CalibrationRefused as refused:
        click.echo("calibration refused: " + "; ".join(refused.reasons))
        sys.exit(1)
    finally:
        if "bar" in bar_holder:
            bar_holder.pop("bar").render_finish()
    line = (f"result: k = {result.k_m3_per_kwh:.4f} ± {result.expanded_uncertainty:.4f} m³/kWh "
            f"(coverage factor {params.coverage_factor:g}; {result.runs} run(s), spread "
            f"{result.spread:.1%}; {result.volume_m3:.3f} m³, {result.energy_kwh:.3f} kWh)")
    if result.efficiency is not None:
        line += (f"; η = {result.efficiency:.3f} ± {result.efficiency_expanded_uncertainty:.3f} "
                 f"at H_cal {result.calibration_head_m:.2f} m")
    click.echo(line)
    version = cal.next_version(conn, plan)
    if not yes and not click.confirm(f"store it as coefficient version {version}, valid from "
                                     "now?", default=False):
        click.echo("not stored")
        sys.exit(1)
    now = clock.time()
    source = (f"calibration {datetime.fromtimestamp(now).isoformat(timespec='seconds')} against "
              f"{sources.reference}: {result.runs} run(s), {result.volume_m3:.3f} m³, "
              f"{result.energy_kwh:.3f} kWh")
    coefficient = cal.new_coefficient(version, result, now, source)
    seq = cal.store_coefficient(state_dir, cal.coefficient_record(coefficient, result, sources,
                                                                  summaries))
    conn.close()
    click.echo(f"stored as coefficient version {version} (store seq {seq}); the gateway derives "
               "volumes with it from now on")


def _command(config_file: str, point: str, value, data: dict) -> None:
    """Append an installer's command record to the store, or exit 2 saying why not."""
    from gateway.accounting.commands import append_command, command_record
    from gateway.store import NoKey, StoreError

    config = _load(config_file)
    if config.well.accounting is None:
        click.echo(f"error: {config_file} has no [well.accounting] table", err=True)
        sys.exit(2)
    try:
        seq = append_command(Path(config.gateway.state_dir), command_record(point, value, data))
    except (NoKey, StoreError, OSError) as exc:
        click.echo(f"error: cannot write the command to the store: {exc}", err=True)
        sys.exit(2)
    click.echo(f"recorded {point} as store seq {seq}; the gateway's accounting takes it up")


@cli.command()
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def flags(config_file: str, as_json: bool) -> None:
    """List the amounts held for a person to confirm (a reset, a spike, a meter replacement),
    each with the seq `wellgate confirm` takes.

    \b
    Example:
      wellgate flags --config /etc/wellgate/wellgate.toml
    """
    from gateway.accounting.report import local_time

    config, view = _accounting_view(config_file)
    held = dict(sorted(view.open_flags.items(), key=lambda item: int(item[0])))
    if as_json:
        click.echo(json.dumps(held, indent=2))
        return
    if not held:
        click.echo("no held amount waits for a person")
    for seq, flag in held.items():
        click.echo(f"seq {seq}  {local_time(flag['at'], config.well.timezone)}  {flag['device']}"
                   f" {flag['point']}: {flag['kind']}, {flag['held']:.3f} {flag['unit']} held; "
                   f"{flag['flag']}")


@cli.command()
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False))
@click.argument("flag_seq", type=int)
@click.option("--count/--reject", "count", required=True,
              help="Count the held amount into the totals, or reject it for good.")
@click.option("--note", default="", help="Why, for the record.")
def confirm(config_file: str, flag_seq: int, count: bool, note: str) -> None:
    """Decide a held amount (see `wellgate flags`): count it, or reject it. Each flag is
    decided once; the decision is a signed record in the store.

    \b
    Example:
      wellgate confirm --config site.toml 48213 --count --note "meter swapped, seal 0042"
    """
    _command(config_file, "confirm_flag", flag_seq, {
        "flag_seq": flag_seq, "decision": "count" if count else "reject", "note": note})


@cli.command("meter-replaced")
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False))
@click.option("--device", required=True, help="The device whose meter was replaced.")
@click.option("--point", default=None, help="Its totaliser (default: forward_total for a flow "
                                            "meter, import_energy for an energy meter).")
@click.option("--new-start", type=float, required=True,
              help="The new meter's reading when it was installed.")
@click.option("--old-final", type=float, default=None,
              help="The old meter's last reading, where it could still be read.")
def meter_replaced(config_file: str, device: str, point: str | None, new_start: float,
                   old_final: float | None) -> None:
    """Record a meter replacement: counting goes on from the new meter's start reading (and
    what the old meter counted up to its final reading, where given). Flagged for a person.

    \b
    Example:
      wellgate meter-replaced --config site.toml --device flow-meter --new-start 12.5
    """
    import time as clock

    from gateway.accounting.plan import build_plan

    plan = build_plan(_load(config_file))
    totals = {t.device: t.point for t in (plan.volume, plan.energy) if t is not None}
    if device not in totals:
        raise click.BadParameter(f"{device!r} is not a meter accounting counts; expected one "
                                 f"of: {', '.join(totals) or 'none'}", param_hint="--device")
    _command(config_file, "replace_meter", new_start, {
        "device": device, "point": point or totals[device], "new_start": new_start,
        "old_final": old_final, "at_time": clock.time()})


@cli.command()
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False))
@click.argument("action", type=click.Choice(["override-on", "override-off", "restore"]))
@click.option("--note", default="", help="Why, for the record.")
def pump(config_file: str, action: str, note: str) -> None:
    """以电控水 on site: override-on holds the cut-off (and gives a cut pump back) for
    maintenance, override-off ends that, restore gives the pump back for the rest of the year.

    \b
    Example:
      wellgate pump --config site.toml override-on --note "pump test after repair"
    """
    point = "pump_restore" if action == "restore" else "pump_override"
    _command(config_file, point, action, {"active": action == "override-on", "note": note})


@cli.group()
def platform() -> None:
    """The reference receiver a platform runs to take the gateways' uplinks (docs/platform.md).

    \b
    Examples:
      wellgate platform serve --config platform.toml
      wellgate platform report --config platform.toml
      wellgate platform keygen --config platform.toml
    """


def _load_platform(path: str, check_ack_key: bool = True):
    from gateway.errors import ConfigError
    from gateway.platform.config import load_platform_config

    try:
        return load_platform_config(Path(path), check_ack_key)
    except ConfigError as exc:
        for line in exc.errors:
            click.echo(f"error: {line}", err=True)
        click.echo(f"{len(exc.errors)} error(s) in {path}; nothing was started.", err=True)
        sys.exit(2)


@platform.command("serve")
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False),
              help="The receiver's config (TOML).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def platform_serve(config_file: str, verbose: int) -> None:
    """Receive batches over HTTPS and/or MQTT until stopped (SIGTERM or Ctrl-C).

    \b
    Example:
      wellgate platform serve --config /etc/wellgate-platform/platform.toml
    """
    from gateway.platform.serve import serve

    _logging(verbose + 1)
    config = _load_platform(config_file)
    if config.https is None and config.mqtt is None:
        click.echo(f"error: {config_file} has neither an [https] nor an [mqtt] table: "
                   "nothing to receive on", err=True)
        sys.exit(2)
    serve(config)


@platform.command("keygen")
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False),
              help="The receiver's config (TOML) with [receiver] ack_key.")
def platform_keygen(config_file: str) -> None:
    """Make the key the receiver signs its acks with ([receiver] ack_key) and the .pub beside
    it, to give each gateway's uplink as platform_key. Never replaces a key.

    \b
    Example:
      wellgate platform keygen --config platform.toml
    """
    from gateway.store.keys import KeyExists, create_key, fingerprint, public_pem

    config = _load_platform(config_file, check_ack_key=False)
    path = config.ack_key_file
    if path is None:
        click.echo(f"error: {config_file} has no [receiver] ack_key: add e.g. "
                   'ack_key = "keys/ack.key"', err=True)
        sys.exit(2)
    try:
        public = create_key(path.parent, path.stem)
    except KeyExists as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"made {path} (private, 0600) and {path.with_suffix('.pub')}")
    click.echo(f"fingerprint {fingerprint(public)}")
    click.echo(public_pem(public).decode().rstrip())
    click.echo("give the .pub to each gateway's uplink as platform_key: it then takes only "
               "acks signed with this key")


@platform.command("report")
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False),
              help="The receiver's config (TOML).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def platform_report(config_file: str, as_json: bool) -> None:
    """List what each gateway delivered: record counts, gaps, refusals, last seen.

    \b
    Example:
      wellgate platform report --config platform.toml
    """
    from gateway.platform.db import open_read_only
    from gateway.platform.report import format_reports, gateway_reports

    config = _load_platform(config_file)
    try:
        conn = open_read_only(config.database)
    except FileNotFoundError as exc:
        click.echo(f"error: {exc}: has the receiver run (wellgate platform serve)?", err=True)
        sys.exit(1)
    try:
        reports = gateway_reports(conn, [entry.id for entry in config.gateways])
    finally:
        conn.close()
    if as_json:
        click.echo(json.dumps([report.as_dict() for report in reports], indent=2))
    else:
        click.echo(format_reports(reports))

def main() -> None:
    """Console-script entry point."""
    cli(prog_name="wellgate")
