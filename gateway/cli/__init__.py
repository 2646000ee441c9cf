"""The `wellgate` command line: a thin click layer over the gateway's rooms.

One module per command group (site, store, accounting, platform); the options they share are in
options.py, and errors.py turns the library's errors into click exceptions at this edge.
"""

from __future__ import annotations

import click

from gateway import __version__
from gateway.cli import accounting, site, store
from gateway.cli.commission import commission
from gateway.cli.platform import platform
from gateway.cli.simulate import simulate


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
      wellgate simulate --config site.toml rehearse without meters: the site's meters simulated
    """


for _command in (*site.COMMANDS, *store.COMMANDS, *accounting.COMMANDS, platform, simulate,
                 commission):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="wellgate")


__all__ = ["cli", "main"]
