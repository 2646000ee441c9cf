"""Running a SimulatedWell outside the caller's event loop: in a thread, or as a process that prints
its ports as one JSON line and takes JSON-line commands (`python -m gateway.simulator`)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import ipaddress
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gateway.simulator.well import SimulatedWell


class ThreadRunner:
    """Runs a well's event loop in a background thread; `call` runs a function on that loop."""

    def __init__(self, well: SimulatedWell) -> None:
        self.well = well
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="simulated-well", daemon=True
        )

    def start(
        self, tcp: dict[str, tuple[str, int]] | None = None, timeout: float = 10.0
    ) -> dict[str, str]:
        """Start the loop, the well and TCP lines (name → (host, port)); returns well.ports()."""
        self._thread.start()

        async def begin() -> dict[str, str]:
            await self.well.start()
            for line, (host, port) in (tcp or {}).items():
                await self.well.serve_tcp(line, host, port)
            return self.well.ports()

        return asyncio.run_coroutine_threadsafe(begin(), self.loop).result(timeout)

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run function(*args, **kwargs) on the well's loop thread and return its result."""

        async def run() -> Any:
            return function(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10.0)

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.well.stop(), self.loop).result(timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        self.loop.close()

    def __enter__(self) -> ThreadRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _plain(value: Any) -> Any:
    """JSON-friendly form of results (dataclasses, bytes, tuples)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def run_command(well: SimulatedWell, command: dict[str, Any]) -> Any:
    """Carry out one control-channel command (see main's help) and return its result."""
    args = dict(command)
    name = args.pop("cmd", None)
    args.pop("id", None)
    if name == "inject":
        well.inject(args.pop("device"), args.pop("fault"), **args)
        return well.faults(command["device"])
    if name == "clear":
        well.clear(args["device"], args.get("fault"))
        return well.faults(args["device"])
    if name == "advance":
        return well.advance(float(args["seconds"]))
    if name == "set_params":
        return well.set_params(**args)
    if name == "set_pump":
        well.set_pump(args.get("on"))
        return well.snapshot()
    if name == "wire_relay":
        well.wire_relay(args["device"], int(args.get("coil", 0)),
                        bool(args.get("stops_pump", True)))
        return well.meter(args["device"]).coils
    if name == "time_scale":
        well.time_scale = float(args["value"])
        return well.time_scale
    if name == "served":
        return well.served_values(args["device"])
    if name == "values":
        return well.values(args["device"])
    if name == "stats":
        return well.stats(args["line"])
    if name == "snapshot":
        return well.snapshot()
    if name == "ports":
        return well.ports()
    if name == "unplug":
        well.unplug(args["line"])
        return well.ports()
    if name == "replug":
        well.replug(args["line"])
        return well.ports()
    known = (
        "inject, clear, advance, set_params, set_pump, wire_relay, time_scale, served, values, "
        "stats, snapshot, ports, unplug, replug, stop"
    )
    raise ValueError(f"unknown command {name!r}; known: {known}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


CONTROL_HELP = (
    'Prints one JSON line {"event": "ready", "lines": {bus: "/dev/pts/N" or "host:port"}} and '
    "runs until SIGTERM. Control on stdin, one JSON object per line, one JSON reply per line: "
    '{"cmd": "inject", "device": "flow-meter", "fault": "late", "delay": 0.8}, '
    '{"cmd": "clear", "device": "flow-meter"}, {"cmd": "advance", "seconds": 60}, '
    '{"cmd": "served", "device": "flow-meter"}, {"cmd": "stats", "line": "rs485-1"}, '
    '{"cmd": "set_pump", "on": false}, '
    '{"cmd": "wire_relay", "device": "relay", "coil": 0, "stops_pump": true}, '
    '{"cmd": "time_scale", "value": 60}, '
    '{"cmd": "snapshot"}, {"cmd": "unplug", "line": "rs485-1"}, '
    '{"cmd": "replug", "line": "rs485-1"}, {"cmd": "stop"}.'
)


async def serve(config_path: str, *, seed: int = 1, time_scale: float = 1.0,
                byte_time: bool = False, link_dir: str | None = None,
                tcp_host: str = "127.0.0.1", params: Iterable[tuple[str, float]] = ()) -> None:
    """Simulate a config's meters until SIGTERM or the stop command (see CONTROL_HELP)."""
    from gateway.config import load_config  # the config module is only needed by the process runner

    config = load_config(config_path)
    well = SimulatedWell.from_config(
        config,
        seed=seed,
        time_scale=time_scale,
        emulate_byte_time=byte_time,
        **dict(params),
    )
    await well.start()
    if link_dir:
        for name, kind in well.lines().items():
            if kind != "tcp":
                well.link(name, Path(link_dir) / name)
    for bus in config.buses:
        if bus.type == "tcp":
            host = getattr(bus, "host", "") or ""
            if _is_loopback(host):
                await well.serve_tcp(bus.name, host, getattr(bus, "tcp_port", 0) or 0)
            else:  # the configured address is another machine's: serve locally on a free port
                await well.serve_tcp(bus.name, tcp_host, 0)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)

    def emit(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(_plain(message), ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def handle(line: str) -> None:
        try:
            command = json.loads(line)
            if command.get("cmd") == "stop":
                done.set()
                emit({"id": command.get("id"), "ok": True, "result": None})
                return
            emit({"id": command.get("id"), "ok": True, "result": run_command(well, command)})
        except (
            Exception
        ) as error:  # every failure is reported on the channel, the well keeps running
            emit(
                {"ok": False, "error": f"{type(error).__name__}: {error}", "command": line.strip()}
            )

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.strip():
                loop.call_soon_threadsafe(handle, line)

    emit({"event": "ready", "lines": well.ports(), "kinds": well.lines(), "pid": os.getpid()})
    threading.Thread(target=read_stdin, name="control", daemon=True).start()
    await done.wait()
    await well.stop()


def parse_well_param(text: str) -> tuple[str, float]:
    """A NAME=NUMBER well parameter (WellParams); ValueError saying what was expected."""
    name, _, value = text.partition("=")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise ValueError(f"expected NAME=NUMBER, got {text!r}") from None


def _well_param(text: str) -> tuple[str, float]:
    try:
        return parse_well_param(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.simulator",
        description="Simulate a gateway config's meters on pty serial lines and Modbus TCP. "
        + CONTROL_HELP,
    )
    parser.add_argument("--config", required=True, help="gateway config TOML (buses and devices)")
    parser.add_argument(
        "--byte-time", action="store_true", help="pace replies at the bus's baud rate"
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--link-dir", help="give each serial line a stable name DIR/<bus> (a symlink, like "
        "/dev/serial/by-id/) that survives the unplug and replug commands"
    )
    parser.add_argument(
        "--tcp-host", default="127.0.0.1", help="where to serve TCP buses not on loopback"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=_well_param,
        metavar="NAME=VALUE",
        help="a well parameter (WellParams), e.g. pump_rated_kw=11 or on_seconds=600; repeatable",
    )
    args = parser.parse_args(argv)
    from gateway.errors import ConfigError

    try:
        asyncio.run(serve(args.config, seed=args.seed, time_scale=args.time_scale,
                          byte_time=args.byte_time, link_dir=args.link_dir,
                          tcp_host=args.tcp_host, params=args.param))
    except (ConfigError, ValueError, KeyError, OSError) as error:
        parser.exit(2, f"gateway.simulator: {error}\n")
