"""The `wellgate` command line: a thin click layer over the gateway's rooms.

One module per command group (site, store, accounting, platform); the options they share are in
options.py, and errors.py turns the library's errors into click exceptions at this edge. Each
command's module is imported when that command is looked up (click's lazy group pattern): `wellgate
run` loads the site commands, not the accounting, export, platform or simulator ones (issue 16:
the start's time and memory).
"""

from __future__ import annotations

import importlib

import click

from gateway import __version__

# command name -> "module:attribute" of its click command, imported when the command is used
LAZY_COMMANDS = {
    "check-config": "gateway.cli.site:check_config",
    "init": "gateway.cli.site:init",
    "run": "gateway.cli.site:run",
    "health": "gateway.cli.site:health",
    "probe": "gateway.cli.site:probe",
    "scan": "gateway.cli.site:scan",
    "demo": "gateway.cli.site:demo",
    "verify": "gateway.cli.store:verify",
    "export": "gateway.cli.store:export",
    "status": "gateway.cli.store:status",
    "totals": "gateway.cli.accounting:totals",
    "alarms": "gateway.cli.accounting:alarms",
    "flags": "gateway.cli.accounting:flags",
    "confirm": "gateway.cli.accounting:confirm",
    "meter-replaced": "gateway.cli.accounting:meter_replaced",
    "pump": "gateway.cli.accounting:pump",
    "calibrate": "gateway.cli.accounting:calibrate",
    "plan": "gateway.cli.water_plan:plan",
    "platform": "gateway.cli.platform:platform",
    "simulate": "gateway.cli.simulate:simulate",
    "commission": "gateway.cli.commission:commission",
}


class LazyGroup(click.Group):
    """A group whose commands are named up front and imported when one is looked up."""

    def __init__(self, *args, lazy_commands: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module, _, attribute = self.lazy_commands[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command) or command.name != cmd_name:
                raise TypeError(f"{self.lazy_commands[cmd_name]} is {command!r}; expected the "
                                f"click command {cmd_name!r}")
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy_commands=LAZY_COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
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
      wellgate simulate --config site.toml rehearse without meters: the site's meters simulated
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="wellgate")


__all__ = ["LAZY_COMMANDS", "cli", "main"]
