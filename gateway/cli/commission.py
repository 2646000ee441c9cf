"""`wellgate commission`: a guided installation, from a scan of the bus to a registered gateway."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gateway.cli.commission_centres import ask_centres, parse_centres
from gateway.cli.errors import CommandError, load_gateway_config

DEFAULT_CONFIG = "/etc/wellgate/wellgate.toml"
DEFAULT_STATE = "/var/lib/wellgate"
DEFAULT_RUNTIME = "/run/wellgate"
DEFAULT_ZONE = "Asia/Shanghai"  # Ordos
STEPS = ("scan the buses", "name the meters", "water accounting", "the centres",
         "write the config", "check it", "the gateway's key", "a first poll", "calibration",
         "registration")


class Asker:
    """A question answered by its flag when given, by its default under --yes, else by the
    installer at the prompt."""

    def __init__(self, yes: bool) -> None:
        self.yes = yes

    def __call__(self, text: str, given: Any = None, default: Any = None, flag: str = "",
                 **prompt: Any) -> Any:
        if given is not None:
            click.echo(f"{text}: {given}")
            return given
        if self.yes:
            if default is None:
                raise click.UsageError(f"--yes: give {flag} (asked: {text})")
            click.echo(f"{text}: {default}")
            return default
        return click.prompt(text, default=default, **prompt)

    def confirm(self, text: str, default: bool) -> bool:
        if self.yes:
            click.echo(f"{text} {'yes' if default else 'no'}")
            return default
        return click.confirm(text, default=default)


def _step(number: int) -> None:
    click.secho(f"\n== step {number} of {len(STEPS)}: {STEPS[number - 1]} ==", bold=True)


def _scan_port(port: str, bus_name: str) -> Any:
    """Sweep `port` with scan's defaults, say what answered; the usable bus or None."""
    from gateway.scan import Progress, parse_bauds, parse_ids, parse_parities, sweep, sweep_defaults
    from gateway.scan_report import bus_choice, describe, left_out, usable

    default = sweep_defaults(False)
    bauds, parities = parse_bauds(default["bauds"]), parse_parities(default["parities"])
    ids = parse_ids(default["ids"])
    length = len(bauds) * len(parities) * len(ids) + len(bauds)
    progress = Progress(length, f"scanning {port}", sys.stderr.isatty())
    try:
        found, notes = asyncio.run(sweep(port, bauds, parities, ids, None, True, False, progress))
    finally:
        progress.close()
    for note in dict.fromkeys(notes):
        click.echo(f"note: {note}")
    for hit in found:
        click.echo(describe(hit))
    chosen, rest = usable(found)
    for line in left_out(rest, chosen):
        click.echo(f"note: {line}")
    if not chosen:
        click.echo(f"no meter that a profile fits answered on {port}: check wiring (A/B "
                   f"swapped?), termination and power, or try `wellgate scan --port {port} "
                   "--full`")
        return None
    return bus_choice(chosen, port, bus_name)


def _scan_buses(ask: Asker, ports: tuple[str, ...]) -> list[Any]:
    from gateway.ports import busy_message

    buses: list[Any] = []
    queue = list(ports)
    while True:
        if queue:
            port = queue.pop(0)
        elif ask.yes or (buses and not ask.confirm("Scan another RS-485 line?", False)):
            break
        else:
            _hint_ports()
            port = ask("Serial port of the RS-485 line to scan (e.g. /dev/ttyUSB0)")
        held = busy_message(port)
        if held:
            click.echo(f"{port} is in use{held}")
            continue
        try:
            bus = _scan_port(port, f"rs485-{len(buses) + 1}")
        except click.ClickException as exc:  # the port does not open
            if ask.yes:
                raise
            click.echo(f"error: {exc.format_message()}")
            continue
        if bus is not None:
            buses.append(bus)
        elif ask.yes:
            raise CommandError(f"nothing usable answered on {port}", exit_code=1)
    if not buses:
        raise CommandError("no meter found on any line: nothing to commission", exit_code=1)
    return buses


def _hint_ports() -> None:
    from serial.tools import list_ports

    seen = [port.device for port in list_ports.comports()]
    click.echo(f"serial ports seen: {', '.join(seen) if seen else 'none (USB adapter plugged?)'}")


def _device_name(text: str) -> str:
    """`text` if the config takes it as a name, else BadParameter (asked again)."""
    import re

    from gateway.config.fields import NAME_PATTERN

    if not re.fullmatch(NAME_PATTERN, text):
        raise click.BadParameter(f"{text!r}: a name is letters, digits and . _ - (up to 64), "
                                 "starting with a letter or digit")
    return text


def _name_meters(ask: Asker, buses: list[Any]) -> None:
    from gateway.profiles import available_profiles, load_profile_file
    from gateway.scan import modbus_profiles

    modbus = sorted(modbus_profiles())
    models = {"rtu": click.Choice(modbus), "dlt645": click.Choice(sorted(
        name for name, path in available_profiles().items()
        if name not in modbus and load_profile_file(path).model.protocol == "dlt645"))}
    taken: set[str] = set()
    for bus in buses:
        for device in bus.devices:
            where = (f"id {device.slave_id}" if device.address is None
                     else f"address {device.address}") + f" on {bus.port}"
            if not ask.yes:
                device.model = ask(f"Model of the meter at {where}", default=device.model,
                                   type=models[bus.type], show_choices=False)
            name = ask(f"Name for the {device.model} at {where}", default=device.name,
                       value_proc=_device_name)
            while name in taken:
                name = ask(f"{name!r} is taken; another name", default=f"{name}-2")
            device.name = name
            taken.add(name)


def _accounting(ask: Asker, buses: list[Any], options: dict[str, Any]) -> Any:
    from gateway.commission import Accounting
    from gateway.scan_report import profile_roles

    roles = profile_roles()
    by_role: dict[str, list[str]] = {}
    for bus in buses:
        for device in bus.devices:
            by_role.setdefault(roles.get(device.model, ""), []).append(device.name)
    if not (by_role.get("flow") or by_role.get("energy")):
        click.echo("no flow or energy meter: no water accounting")
        return None
    wanted = options["accounting"]
    if wanted is None:
        wanted = ask.confirm("Account the well's water (volumes, 以电折水, meter-health alarms)?",
                             True)
    if not wanted:
        return None

    def pick(role: str, what: str) -> str | None:
        names = by_role.get(role, [])
        if len(names) < 2:
            return names[0] if names else None
        return ask(f"Which device is {what}", default=names[0], type=click.Choice(names))

    flow = pick("flow", "the flow meter that counts the legal volume")
    others = [name for name in by_role.get("flow", []) if name != flow]
    reference = None
    if others and not ask.yes:
        reference = ask("Is another flow meter a temporary reference for calibrating 以电折水 "
                        "(率定)?", default="none", type=click.Choice([*others, "none"]))
    return Accounting(
        flow, pick("energy", "the pump's energy meter"), pick("level", "the well's level sensor"),
        ask("The pump's most output, m³/h", options["pump_capacity"], flag="--pump-capacity",
            type=click.FloatRange(min=0, min_open=True)),
        ask("The pump's rated electrical power, kW", options["rated_power"],
            flag="--rated-power", type=click.FloatRange(min=0, min_open=True)),
        ask("The well's annual allocation, m³ (0: none)", options["allocation"], default=0.0,
            type=click.FloatRange(min=0)) or None,
        None if reference == "none" else reference)


def _write_config(ask: Asker, site: Any, config_out: Path, force: bool) -> None:
    from gateway.commission import site_toml

    if config_out.exists() and not force and not (
            not ask.yes and ask.confirm(f"{config_out} exists; replace it?", False)):
        raise CommandError(f"{config_out} exists: choose another --config-out, or --force")
    try:
        config_out.parent.mkdir(parents=True, exist_ok=True)
        text = site_toml(site, "written by wellgate commission")
        descriptor = os.open(config_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # secret (the centres' passwords) from its first byte
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise CommandError(f"cannot write {config_out}: {exc}") from None
    click.echo(f"wrote {config_out}")


def _key(state_dir: Path) -> tuple[str, str, str]:
    """(public key PEM, fingerprint, grouped) of the key made now, or of the one already there."""
    from gateway.store import KeyExists, StoreError, create_key, load_private_key
    from gateway.store.keys import fingerprint, grouped, public_pem

    try:
        public = create_key(state_dir)
        click.echo(f"created the gateway's signing key in {state_dir}")
    except KeyExists:
        public = load_private_key(state_dir).public_key()
        click.echo(f"kept the signing key already in {state_dir}")
    except (StoreError, OSError) as exc:
        raise CommandError(f"cannot create the key in {state_dir}: {exc}") from None
    text = fingerprint(public)
    return public_pem(public).decode("ascii"), text, grouped(text)


def _first_poll(config: Any) -> None:
    from gateway.commission import poll_once
    from gateway.display import precisions, readings_table

    readings, healths = asyncio.run(poll_once(config))
    shown = {}
    for device in config.devices:
        shown.update(precisions(config.effective_points(device), device.name, readings))
    if readings:
        click.echo(readings_table(readings, shown))
    silent = [name for name, health in healths.items() if not health.good_replies]
    for name in silent:
        click.echo(f"warning: {name} did not answer the first poll: "
                   f"{healths[name].last_error or 'no reply'}")
    if not silent:
        click.echo(f"every device answered ({len(healths)})")


def _calibration(ask: Asker, accounting: Any, config_out: Path, typed: tuple[str, ...]) -> bool:
    """率定 now from typed readings (`wellgate calibrate --manual`, the same code), or when and
    how to run the live calibration against the reference meter; False when typed runs were
    refused or not stored."""
    from gateway.cli.accounting import calibrate_manual

    live = (f"start the gateway (wellgate run --config {config_out}), let the pump run "
            f"steadily, then: wellgate calibrate --config {config_out} (each run takes "
            "[well.accounting.calibration] min_duration_s, 30 min by default)")
    if accounting is None or not accounting.energy_meter:
        if typed:
            raise CommandError("--calibrate-manual: no energy meter, so no 以电折水 to calibrate")
        click.echo("no energy meter: no 以电折水, nothing to calibrate")
        return True
    if not typed and accounting.reference_device is None:
        click.echo("no reference flow meter named: to calibrate later, either type the readings "
                   f"of a portable meter: wellgate calibrate --config {config_out} --manual, or "
                   "add a reference meter to the bus, name it as [well.accounting.calibration] "
                   f"reference_device, and {live}")
        return True
    if typed or (not ask.yes and ask.confirm(
            "Calibrate 以电折水 now from readings you took of the reference meter and the energy "
            "meter during steady runs (wellgate calibrate --manual)?", False)):
        _create_store(config_out)
        if calibrate_manual(str(config_out), list(typed), None, ask.yes):
            return True
        click.echo(f"not calibrated now: type the runs again with wellgate calibrate "
                   f"--config {config_out} --manual, or {live}")
        return False
    click.echo(f"to calibrate against {accounting.reference_device} after step "
               f"{len(STEPS)}: {live}")
    return True


def _check_runs(typed: tuple[str, ...]) -> None:
    """Each --calibrate-manual run readable, before anything is scanned or written."""
    from gateway.accounting.manual_calibration import parse_run

    for text in typed:
        try:
            parse_run(text)
        except ValueError as exc:
            raise click.UsageError(f"--calibrate-manual {exc}") from None


def _create_store(config_out: Path) -> None:
    """The signed store (made by the first `wellgate run` otherwise), for a coefficient now."""
    from gateway.store import StoreError, StoreWriter, load_private_key

    config = load_gateway_config(str(config_out))
    state_dir = Path(config.gateway.state_dir)
    try:
        StoreWriter(state_dir, load_private_key(state_dir)).close()
    except (StoreError, OSError) as exc:
        raise CommandError(f"cannot open the store in {state_dir}: {exc}") from None


def _zone(name: str) -> str:
    """`name` if it is a time zone this system knows, else BadParameter (asked again)."""
    from gateway.accounting.periods import local_zone

    try:
        local_zone(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return name


def _run(number: int, step: Callable[[], Any]) -> Any:
    _step(number)
    return step()


@click.command()
@click.option("--well-id", help="The well's id at the platform, e.g. 150602-0017.")
@click.option("--port", "ports", multiple=True,
              help="A serial port to scan (repeat for each RS-485 line); asked when not given.")
@click.option("--config-out", type=click.Path(dir_okay=False, path_type=Path),
              help=f"The site config to write [asked; default {DEFAULT_CONFIG}].")
@click.option("--state-dir", help=f"Where the gateway keeps its store and key [asked; default "
              f"{DEFAULT_STATE}].")
@click.option("--runtime-dir", help=f"Where the running gateway leaves its health snapshot "
              f"[asked; default {DEFAULT_RUNTIME}].")
@click.option("--timezone", help=f"The well's time zone, an IANA name [asked; default "
              f"{DEFAULT_ZONE}].")
@click.option("--accounting/--no-accounting", default=None,
              help="Account the well's water (asked; under --yes: yes).")
@click.option("--pump-capacity", type=float, help="The pump's most output, m³/h.")
@click.option("--rated-power", type=float, help="The pump's rated electrical power, kW.")
@click.option("--allocation", type=float, help="The annual allocation, m³ (0: none).")
@click.option("--centre", "centres", multiple=True, metavar="SPEC",
              help="A centre the well reports to (repeatable): sl427,HOST:PORT,county=530381,"
              "station=13[,edition=SZY206-2016] or sl651,HOST:PORT,station=0012345678"
              "[,centre_address=1][,station_class=groundwater]; each may add name=N, "
              "password-file=F (the password's first line; default 0000), report_period=S "
              "and keepalive_period=S.")
@click.option("--calibrate-manual", "manual_runs", multiple=True, metavar="RUN",
              help="Calibrate 以电折水 from a typed run, as `wellgate calibrate --manual --run`: "
              "START_TIME,START_M3,START_KWH,END_TIME,END_M3,END_KWH[,HEAD_M] (repeatable).")
@click.option("--bundle-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the registration bundle (default: beside the config).")
@click.option("--yes", is_flag=True, help="Ask nothing: take the flags, else the defaults and "
              "the best-matching profiles (for scripts and no terminal).")
@click.option("--force", is_flag=True, help="Replace an existing --config-out.")
def commission(well_id: str | None, ports: tuple[str, ...], config_out: Path | None,
               state_dir: str | None, runtime_dir: str | None, timezone: str | None,
               accounting: bool | None, pump_capacity: float | None,
               rated_power: float | None, allocation: float | None,
               centres: tuple[str, ...], manual_runs: tuple[str, ...],
               bundle_dir: Path | None, yes: bool,
               force: bool) -> None:
    """Commission this gateway step by step: scan each RS-485 line, pick each meter's model and
    name, answer for water accounting, write and check the site config, create the signing key,
    ask for the centres it reports to (SL/T 427, SL 651), poll every meter once, offer the manual
    calibration, and write the registration bundle for the platform (JSON and text: well id,
    public key, fingerprint, each centre's station address as its frames carry it). Works
    without a terminal with --yes and the flags; rehearse it on `wellgate simulate`.

    \b
    Example:
      wellgate commission
      wellgate commission --yes --well-id 150602-0017 --port /dev/ttyUSB0 \\
          --pump-capacity 60 --rated-power 7.5 --config-out site.toml
    """
    from gateway.commission import Site, registration_bundle, registration_text, write_bundle
    from gateway.config import summarize

    ask = Asker(yes)
    given_centres = parse_centres(centres)
    _check_runs(manual_runs)
    click.echo("wellgate commission: each step says what it does; Ctrl-C stops, nothing is "
               "written before step 5.")
    well = ask("Well id at the platform (e.g. 150602-0017)", well_id, flag="--well-id")
    zone = _zone(ask("The well's time zone", timezone, default=DEFAULT_ZONE, value_proc=_zone))
    buses = _run(1, lambda: _scan_buses(ask, ports))
    _run(2, lambda: _name_meters(ask, buses))
    options = {"accounting": accounting, "pump_capacity": pump_capacity,
               "rated_power": rated_power, "allocation": allocation}
    accounted = _run(3, lambda: _accounting(ask, buses, options))
    chosen_centres = _run(4, lambda: ask_centres(ask, buses, accounted, given_centres))
    _step(5)
    config_out = Path(ask("Write the site config to", config_out, default=DEFAULT_CONFIG))
    state_dir = ask("Keep the gateway's store and signing key in", state_dir,
                    default=DEFAULT_STATE)
    runtime_dir = ask("Leave the running gateway's health snapshot in", runtime_dir,
                      default=DEFAULT_RUNTIME)
    site = Site(well, zone, state_dir, runtime_dir, buses, accounted, chosen_centres)
    _write_config(ask, site, config_out, force)
    _step(6)
    config = load_gateway_config(str(config_out))
    click.echo(summarize(config))
    pem, print_, grouped_print = _run(7, lambda: _key(Path(state_dir)))
    _run(8, lambda: _first_poll(config))
    calibrated = _run(9, lambda: _calibration(ask, accounted, config_out, manual_runs))
    _step(10)
    bundle = registration_bundle(config, config_out, pem, print_)
    text = registration_text(bundle, grouped_print)
    folder = bundle_dir or config_out.resolve().parent
    try:
        paths = write_bundle(bundle, text, folder)
    except OSError as exc:
        raise CommandError(f"cannot write the registration bundle in {folder}: {exc}") from None
    click.echo(text)
    click.echo(f"registration bundle: {paths[0]} and {paths[1]}: send it to the platform\n\n"
               f"done. Start the gateway: wellgate run --config {config_out} (or systemctl "
               f"enable --now wellgate), then: wellgate health --config {config_out}")
    if manual_runs and not calibrated:
        raise CommandError("--calibrate-manual: the typed runs were not stored (above); the rest "
                           "is commissioned", exit_code=1)
