"""`wellgate simulate`: a site config's meters as the simulated well, to rehearse without meters."""

from __future__ import annotations

import asyncio

import click

from gateway.cli.errors import load_gateway_config
from gateway.cli.options import config_option


def _param(_ctx: click.Context, _option: click.Parameter,
           values: tuple[str, ...]) -> list[tuple[str, float]]:
    from gateway.simulator.runner import parse_well_param

    try:
        return [parse_well_param(text) for text in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@config_option("The site config whose buses and devices are simulated.")
@click.option("--time-scale", type=float, default=1.0, show_default=True,
              help="Simulated seconds per real second.")
@click.option("--byte-time/--no-byte-time", default=False, show_default=True,
              help="Pace replies at each bus's baud rate, as a real line would.")
@click.option("--link-dir", type=click.Path(file_okay=False),
              help="Give each serial line a stable name DIR/<bus> (a symlink, like "
                   "/dev/serial/by-id/) that survives the unplug and replug commands.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--tcp-host", default="127.0.0.1", show_default=True,
              help="Where to serve the TCP buses whose address is another machine's.")
@click.option("--param", "params", multiple=True, callback=_param, metavar="NAME=VALUE",
              help="A well parameter, e.g. pump_rated_kw=11 or on_seconds=600; repeatable.")
def simulate(config_file: str, time_scale: float, byte_time: bool, link_dir: str | None,
             seed: int, tcp_host: str, params: list[tuple[str, float]]) -> None:
    """Answer for the config's meters on pty serial lines and Modbus TCP, so an installer can
    rehearse `probe`, `scan`, `run` and `calibrate` without a meter. Point the config's bus ports
    (or `--port`) at the lines it prints.

    \b
    Prints one JSON line {"event": "ready", "lines": {bus: "/dev/pts/N" or "host:port"}} and runs
    until SIGTERM or the stop command. Control on stdin, one JSON object per line, one JSON reply
    per line, e.g.:
      {"cmd": "inject", "device": "flow-meter", "fault": "late", "delay": 0.8}
      {"cmd": "clear", "device": "flow-meter"}      {"cmd": "advance", "seconds": 60}
      {"cmd": "served", "device": "flow-meter"}     {"cmd": "stats", "line": "rs485-1"}
      {"cmd": "set_pump", "on": false}              {"cmd": "time_scale", "value": 60}
      {"cmd": "unplug", "line": "rs485-1"}          {"cmd": "replug", "line": "rs485-1"}
      {"cmd": "snapshot"}                           {"cmd": "stop"}

    \b
    Example:
      wellgate simulate --config config/examples/demo.toml --time-scale 60
    """
    from gateway.simulator.runner import serve

    load_gateway_config(config_file)  # every error named, exit 2, before anything starts
    try:
        asyncio.run(serve(config_file, seed=seed, time_scale=time_scale, byte_time=byte_time,
                          link_dir=link_dir, tcp_host=tcp_host, params=params))
    except (ValueError, KeyError, OSError) as error:
        raise click.ClickException(f"the simulated well cannot start: {error}") from None
