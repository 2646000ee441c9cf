"""`wellgate platform`: the reference receiver's commands, serve, keygen and report."""

from __future__ import annotations

import json

import click

from gateway.cli.errors import CommandError, load_platform
from gateway.cli.options import (
    PLATFORM_CONFIG,
    config_option,
    json_option,
    setup_logging,
    verbose_option,
)


@click.group()
def platform() -> None:
    """The reference receiver a platform runs to take the gateways' uplinks (docs/platform.md).

    \b
    Examples:
      wellgate platform serve --config platform.toml
      wellgate platform report --config platform.toml
      wellgate platform keygen --config platform.toml
    """


@platform.command("serve")
@config_option(PLATFORM_CONFIG)
@verbose_option
def platform_serve(config_file: str, verbose: int) -> None:
    """Receive batches over HTTPS and/or MQTT until stopped (SIGTERM or Ctrl-C).

    \b
    Example:
      wellgate platform serve --config /etc/wellgate-platform/platform.toml
    """
    from gateway.platform.serve import serve

    setup_logging(verbose + 1)
    config = load_platform(config_file)
    if config.https is None and config.mqtt is None:
        raise CommandError(f"{config_file} has neither an [https] nor an [mqtt] table: "
                           "nothing to receive on")
    serve(config)


@platform.command("keygen")
@config_option("The receiver's config (TOML) with [receiver] ack_key.")
def platform_keygen(config_file: str) -> None:
    """Make the key the receiver signs its acks with ([receiver] ack_key) and the .pub beside
    it, to give each gateway's uplink as platform_key. Never replaces a key.

    \b
    Example:
      wellgate platform keygen --config platform.toml
    """
    from gateway.store.keys import KeyExists, create_key, fingerprint, public_pem

    config = load_platform(config_file, check_ack_key=False)
    path = config.ack_key_file
    if path is None:
        raise CommandError(f"{config_file} has no [receiver] ack_key: add e.g. "
                           'ack_key = "keys/ack.key"')
    try:
        public = create_key(path.parent, path.stem)
    except KeyExists as exc:
        raise CommandError(str(exc), exit_code=1) from None
    click.echo(f"made {path} (private, 0600) and {path.with_suffix('.pub')}")
    click.echo(f"fingerprint {fingerprint(public)}")
    click.echo(public_pem(public).decode().rstrip())
    click.echo("give the .pub to each gateway's uplink as platform_key: it then takes only "
               "acks signed with this key")


@platform.command("report")
@config_option(PLATFORM_CONFIG)
@json_option
def platform_report(config_file: str, as_json: bool) -> None:
    """List what each gateway delivered: record counts, gaps, refusals, last seen.

    \b
    Example:
      wellgate platform report --config platform.toml
    """
    from gateway.platform.db import open_read_only
    from gateway.platform.report import format_reports, gateway_reports

    config = load_platform(config_file)
    try:
        conn = open_read_only(config.database)
    except FileNotFoundError as exc:
        raise CommandError(f"{exc}: has the receiver run (wellgate platform serve)?",
                           exit_code=1) from None
    try:
        reports = gateway_reports(conn, [entry.id for entry in config.gateways])
    finally:
        conn.close()
    if as_json:
        click.echo(json.dumps([report.as_dict() for report in reports], indent=2))
    else:
        click.echo(format_reports(reports))


from gateway.cli.centre import COMMANDS as _CENTRE_COMMANDS  # noqa: E402  (the centre simulator)

for _command in _CENTRE_COMMANDS:
    platform.add_command(_command)
