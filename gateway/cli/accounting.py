"""The commands of water accounting: totals, alarms, flags, confirm, meter-replaced, pump,
calibrate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gateway.cli.errors import CommandError, NotReady, load_gateway_config, open_store_file
from gateway.cli.options import config_option, json_option

if TYPE_CHECKING:
    from gateway.accounting.calibration import CalibrationResult
    from gateway.accounting.report import AccountingView
    from gateway.config import GatewayConfig


def _accounting_view(config_file: str) -> tuple[GatewayConfig, AccountingView]:
    """(config, view of the newest accounting checkpoint); CommandError without
    [well.accounting] or a store, NotReady (exit 1) when nothing is accounted yet."""
    from gateway.accounting.report import load_view
    from gateway.store import DB_FILE

    config = load_gateway_config(config_file)
    if config.well.accounting is None:
        raise CommandError(f"{config_file} has no [well.accounting] table: nothing is accounted")
    conn = open_store_file(str(Path(config.gateway.state_dir) / DB_FILE))
    try:
        view = load_view(conn, config.well.timezone)
    finally:
        conn.close()
    if view is None:
        raise NotReady("nothing accounted yet: is the gateway running (wellgate run)?",
                       exit_code=1)
    return config, view


@click.command()
@config_option()
@click.option("--date", "day", help="A local date, YYYY-MM-DD (default: the last day "
                                    "accounted).")
@json_option
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
    from gateway.accounting.water_plan import PlanBook

    config, view = _accounting_view(config_file)
    try:
        when = date.fromisoformat(day) if day else view.ledger.local_date(
            view.accounted_to or 0.0)
    except ValueError:
        raise click.BadParameter(f"{day!r} is not a date; expected YYYY-MM-DD",
                                 param_hint="--date") from None
    plan = build_plan(config)
    plans = PlanBook(plan.plans.years, view.plans)
    data = totals_data(view, when, plan.allocation, plan.counting_source, config.well.timezone,
                       plans)
    click.echo(json.dumps(data, indent=2) if as_json else format_totals(data, config.well.id))


@click.command()
@config_option()
@json_option
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


class _RunBar:
    """The progress bar of the calibration run going on (on stderr), with the running k."""

    def __init__(self, length: float) -> None:
        self.length = int(length)
        self.bar: Any = None

    def progress(self, elapsed: float, k: float | None, samples: int) -> None:
        if self.bar is not None:
            shown = f"k ≈ {k:.4f} m³/kWh ({samples} samples)" if k else f"{samples} samples"
            self.bar.update(int(elapsed) - self.bar.pos, shown)

    def wait(self) -> None:
        import time

        if self.bar is None:
            self.bar = click.progressbar(
                length=self.length, label="run", show_eta=False, show_percent=True,
                item_show_func=lambda text: text, file=sys.stderr)
            self.bar.__enter__()
        time.sleep(0.5)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.render_finish()
            self.bar = None


@click.command()
@config_option()
@click.option("--duration", type=float, default=None,
              help="Seconds of readings per run (default and least: the config's "
                   "[well.accounting.calibration] min_duration_s).")
@click.option("--runs", type=click.IntRange(1, 20), default=None,
              help="Accepted runs to combine (default: the config's runs_required).")
@click.option("--yes", is_flag=True, help="Store the result without asking.")
@click.option("--timeout", type=float, default=None,
              help="Give a run up after this many seconds (default: twice its duration + 60).")
@click.option("--manual", is_flag=True,
              help="Runs read off a portable (clamp-on) meter and the energy meter and typed "
                   "in with --run, instead of a reference meter on the bus.")
@click.option("--run", "typed", multiple=True, metavar="RUN",
              help="With --manual, one run: START_TIME,START_M3,START_KWH,END_TIME,END_M3,"
                   "END_KWH[,HEAD_M] (times with their offset); repeatable.")
def calibrate(config_file: str, duration: float | None, runs: int | None, yes: bool,
              timeout: float | None, manual: bool, typed: tuple[str, ...]) -> None:
    """Calibrate 以电折水 (率定): while the pump runs steadily, compare the temporarily installed
    reference flow meter ([well.accounting.calibration] reference_device, polled by the running
    gateway) with the pump's energy meter; show progress and the running estimate, refuse
    unstable or short runs saying why, and give k (and η where the head is known) with its
    uncertainty. On confirmation it is stored as the well's next coefficient version.

    With --manual the runs are typed in (--run, or asked for one by one): a portable meter's
    totals and the energy meter's at the start and end of each steady run. Runs at different
    heads (HEAD_M, more than the head table's head_band_m apart) become one coefficient each:
    points of k(H).

    \b
    Examples:
      wellgate calibrate --config /etc/wellgate/wellgate.toml --runs 2
      wellgate calibrate --config site.toml --manual \\
        --run 2026-06-01T08:00:00+08:00,1000.00,500.00,2026-06-01T09:00:00+08:00,1031.40,510.00 \\
        --run 2026-06-01T09:30:00+08:00,1040.00,512.00,2026-06-01T10:30:00+08:00,1071.00,521.90
    """
    if manual or typed:
        if not calibrate_manual(config_file, list(typed), runs, yes):
            sys.exit(1)
        return
    from gateway.accounting.calibrate_session import (
        CalibrationSession,
        CalibrationSetupError,
        describe_result,
        describe_run,
        prepare_calibration,
    )
    from gateway.accounting.calibration import CalibrationRefused

    config = load_gateway_config(config_file)
    try:
        setup = prepare_calibration(config, config_file, duration, runs, timeout)
    except CalibrationSetupError as exc:
        raise CommandError(str(exc)) from None
    conn = open_store_file(str(setup.store_file))
    try:
        session = CalibrationSession(setup, conn)
        click.echo(session.intro())
        bar = _RunBar(setup.duration_s)

        def report(attempt: int, result: CalibrationResult | None, reasons: str) -> None:
            bar.finish()
            click.echo(describe_run(attempt, result, reasons))

        try:
            groups = session.run(bar.progress, report, bar.wait)
        except CalibrationRefused as refused:
            click.echo("calibration refused: " + "; ".join(refused.reasons))
            sys.exit(1)
        finally:
            bar.finish()
        version = session.next_version()
        for number, (summaries, result) in enumerate(groups):  # one per head band
            click.echo(describe_result(result, setup.params))
            if not yes and not click.confirm(f"store it as coefficient version "
                                             f"{version + number}, valid from now?",
                                             default=False):
                click.echo("not stored")
                sys.exit(1)
            seq = session.store(version + number, result, summaries)
            click.echo(f"stored as coefficient version {version + number} (store seq {seq}); "
                       "the gateway derives volumes with it from now on")
    finally:
        conn.close()


def calibrate_manual(config_file: str, typed: list[str], runs: int | None, yes: bool) -> bool:
    """`calibrate --manual` (also `commission --calibrate-manual`): typed runs judged, combined
    per head, each stored on confirmation; False when refused or not stored."""
    from gateway.accounting.calibrate import next_version
    from gateway.accounting.calibrate_session import (
        CalibrationSetupError,
        describe_result,
        manual_calibration,
        store_manual,
    )
    from gateway.accounting.calibration import CalibrationRefused
    from gateway.accounting.manual_calibration import FIELDS
    from gateway.accounting.plan import calibration_params
    from gateway.store import DB_FILE

    config = load_gateway_config(config_file)
    if not typed:  # no --run: ask for each run, an empty line ends
        while text := click.prompt(f"run {len(typed) + 1} as {FIELDS} (empty: done)",
                                   default="", show_default=False).strip():
            typed.append(text)
    try:
        plan, groups = manual_calibration(config, typed, runs)
    except CalibrationSetupError as exc:
        raise CommandError(str(exc)) from None
    except CalibrationRefused as refused:
        click.echo("calibration refused: " + "; ".join(refused.reasons))
        return False
    params = calibration_params(config.well.accounting.calibration)
    conn = open_store_file(str(Path(config.gateway.state_dir) / DB_FILE))
    try:
        version = next_version(conn, plan)
    finally:
        conn.close()
    for number, (group, result) in enumerate(groups):
        click.echo(describe_result(result, params) + f" from {len(group)} typed run(s)")
        if not yes and not click.confirm(f"store it as coefficient version {version + number}, "
                                         "valid from now?", default=False):
            click.echo("not stored")
            return False
        seq = store_manual(config, plan, version + number, result, group)
        click.echo(f"stored as coefficient version {version + number} (store seq {seq})")
    return True


def _command(config_file: str, point: str, value: Any, data: dict[str, Any]) -> None:
    """Append an installer's command record to the store, or CommandError saying why not."""
    from gateway.accounting.commands import append_command, command_record
    from gateway.store import NoKey, StoreError

    config = load_gateway_config(config_file)
    if config.well.accounting is None:
        raise CommandError(f"{config_file} has no [well.accounting] table")
    try:
        seq = append_command(Path(config.gateway.state_dir), command_record(point, value, data))
    except (NoKey, StoreError, OSError) as exc:
        raise CommandError(f"cannot write the command to the store: {exc}") from None
    click.echo(f"recorded {point} as store seq {seq}; the gateway's accounting takes it up")


@click.command()
@config_option()
@json_option
def flags(config_file: str, as_json: bool) -> None:
    """List the amounts held for a person to confirm (a reset, a spike, a meter replacement),
    each with the seq `wellgate confirm` takes.

    \b
    Example:
      wellgate flags --config /etc/wellgate/wellgate.toml
    """
    from gateway.accounting.health_rules import amount
    from gateway.accounting.plan import build_plan
    from gateway.accounting.report import local_time

    config, view = _accounting_view(config_file)
    plan = build_plan(config)
    counts = {(total.device, total.point): total.params.count_resolution or total.params.jitter
              for total in (plan.volume, plan.energy) if total is not None}
    held = dict(sorted(view.open_flags.items(), key=lambda item: int(item[0])))
    if as_json:
        click.echo(json.dumps(held, indent=2))
        return
    if not held:
        click.echo("no held amount waits for a person")
    for seq, flag in held.items():
        click.echo(f"seq {seq}  {local_time(flag['at'], config.well.timezone)}  {flag['device']}"
                   f" {flag['point']}: {flag['kind']}, "
                   f"{amount(flag['held'], counts.get((flag['device'], flag['point']), 0.001))} "
                   f"{flag['unit']} held; "
                   f"{flag['flag']}")


@click.command()
@config_option()
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


@click.command("meter-replaced")
@config_option()
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

    plan = build_plan(load_gateway_config(config_file))
    totals = {t.device: t.point for t in (plan.volume, plan.energy) if t is not None}
    if device not in totals:
        raise click.BadParameter(f"{device!r} is not a meter accounting counts; expected one "
                                 f"of: {', '.join(totals) or 'none'}", param_hint="--device")
    _command(config_file, "replace_meter", new_start, {
        "device": device, "point": point or totals[device], "new_start": new_start,
        "old_final": old_final, "at_time": clock.time()})


@click.command()
@config_option()
@click.argument("action", type=click.Choice(["status", "override-on", "override-off",
                                             "restore"]))
@click.option("--note", default="", help="Why, for the record.")
@click.option("--reason", default="", help="override-on: why the pump may run (default: the "
                                           "note; one of them is required).")
@click.option("--hours", type=click.FloatRange(0.1, 720.0), default=8.0, show_default=True,
              help="override-on: it ends by itself after this long.")
def pump(config_file: str, action: str, note: str, reason: str, hours: float) -> None:
    """以电控水 on site: status shows the cut-off and the override (its expiry and reason);
    override-on holds the cut-off (and gives a cut pump back) for maintenance until it expires,
    override-off ends that, restore gives the pump back for the rest of the year.

    \b
    Example:
      wellgate pump --config site.toml status
      wellgate pump --config site.toml override-on --reason "pump test after repair" --hours 4
    """
    import time as clock

    if action == "status":
        _pump_status(config_file)
        return
    point = "pump_restore" if action == "restore" else "pump_override"
    data: dict[str, Any] = {"active": action == "override-on", "note": note}
    if action == "override-on":
        if not (reason or note):
            raise click.BadParameter("override-on needs a reason (why the pump may run), e.g. "
                                     "--reason \"pump test after repair\"",
                                     param_hint="--reason")
        data.update(reason=reason or note, until=clock.time() + hours * 3600.0)
    _command(config_file, point, action, data)


def _pump_status(config_file: str) -> None:
    from gateway.accounting.pump import status_lines
    from gateway.accounting.records import latest_checkpoint
    from gateway.accounting.report import local_time
    from gateway.store import DB_FILE

    config = load_gateway_config(config_file)
    if config.well.accounting is None:
        raise CommandError(f"{config_file} has no [well.accounting] table")
    conn = open_store_file(str(Path(config.gateway.state_dir) / DB_FILE))
    try:
        checkpoint = latest_checkpoint(conn)
    finally:
        conn.close()
    state = (checkpoint.data or {}).get("pump") if checkpoint is not None else None
    zone = config.well.timezone
    click.echo("\n".join(status_lines(config.well.pump_control, state,
                                       lambda t: local_time(t, zone))))
