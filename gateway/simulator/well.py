"""SimulatedWell: one well's physics shared by simulated meters on pty lines and Modbus TCP."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.simulator.device import Meter, ServedRecord, SimDevice
from gateway.simulator.dlt645_slave import Dlt645Protocol
from gateway.simulator.faults import ACTIONS, make_fault
from gateway.simulator.modbus_slave import RtuProtocol
from gateway.simulator.physics import Snapshot, WellParams, WellPhysics, with_overrides
from gateway.simulator.serial_line import SerialLine
from gateway.simulator.tcp import TcpLine

LINE_KINDS = ("rtu", "dlt645", "tcp")
_ADDRESS = re.compile(r"^[0-9]{12}$")


@dataclass
class _Line:
    name: str
    kind: str
    baud: int
    emulate_byte_time: bool
    turnaround: float
    meters: dict[Any, Meter]  # by slave id (rtu, tcp) or address (dlt645)
    emulate_baud: bool = True
    serial: SerialLine | None = None
    tcp: TcpLine | None = None
    link: Path | None = None  # a stable name for the pty, like /dev/serial/by-id/...


class SimulatedWell:
    """A pumped well and its meters, answering real protocol bytes.

    Simulated time = seconds given to advance() + real seconds since construction × time_scale
    (time_scale 0 stops the clock: only advance() moves it). Same seed, same calls → same values.
    """

    def __init__(
        self,
        seed: int = 0,
        time_scale: float = 1.0,
        params: WellParams | None = None,
        **param_overrides: float,
    ) -> None:
        if time_scale < 0:
            raise ValueError(
                f"time_scale must be >= 0 simulated seconds per real second, got {time_scale}"
            )
        self.seed = seed
        self.physics = WellPhysics(with_overrides(params or WellParams(), param_overrides), seed)
        self._time_scale = time_scale
        self._epoch_real = time.monotonic()
        self._epoch_sim = 0.0
        self._lines: dict[str, _Line] = {}
        self._meters: dict[str, Meter] = {}
        self._line_of: dict[str, str] = {}
        self.started = False

    # -- time and physics --------------------------------------------------------------------------
    @property
    def time_scale(self) -> float:
        return self._time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"time_scale must be >= 0, got {value}")
        self._epoch_sim, self._epoch_real = self.sim_time(), time.monotonic()
        self._time_scale = value

    def sim_time(self) -> float:
        """Simulated seconds since the start."""
        return self._epoch_sim + (time.monotonic() - self._epoch_real) * self._time_scale

    def advance(self, seconds: float) -> Snapshot:
        """Move simulated time forward by `seconds` at once (tests); returns the new snapshot."""
        if seconds < 0:
            raise ValueError(f"advance() takes seconds >= 0, got {seconds}")
        self._epoch_sim += seconds
        return self.snapshot()

    def snapshot(self) -> Snapshot:
        """Every physical quantity now (pump, flow, head, level, totals), in base units."""
        return self.physics.at(self.sim_time())

    def set_params(self, **overrides: float) -> Snapshot:
        """Change the well from now on (WellParams names): a season's lower water table
        (static_depth_m), a worn pump (efficiency); returns the snapshot after the change."""
        self.physics.change(self.sim_time(), overrides)
        return self.snapshot()

    def wire_relay(self, device: str, coil: int, stops_pump: bool = True) -> None:
        """Wire a relay module's channel into the pump's contactor: with stops_pump, coil ON
        stops the pump (OFF gives it back to its duty cycle); without, coil OFF stops it."""
        meter = self.meter(device)

        def switched(address: int, on: bool) -> None:
            if address == coil:
                self.set_pump(False if on == stops_pump else None)

        meter.on_coil = switched

    def set_pump(self, on: bool | None) -> None:
        """Force the pump on or off (a relay, a test); None returns it to its duty cycle."""
        self.physics.set_pump(on, self.sim_time())

    # -- building ----------------------------------------------------------------------------------
    def add_line(
        self,
        name: str,
        kind: str = "rtu",
        baud: int = 9600,
        emulate_byte_time: bool = False,
        turnaround: float = 0.0,
        emulate_baud: bool = True,
    ) -> None:
        """Declare a bus: "rtu" or "dlt645" (a pty pair each) or "tcp" (served by serve_tcp).

        A serial line answers only a master whose pty speed is `baud` (emulate_baud=False: any
        speed); see serial_line.py for what can and cannot be emulated on a pty.
        """
        if name in self._lines:
            raise ValueError(f"line {name!r} already exists")
        if kind not in LINE_KINDS:
            raise ValueError(f"line kind must be one of {LINE_KINDS}, got {kind!r}")
        if baud <= 0 or turnaround < 0:
            raise ValueError(
                f"line {name!r}: baud must be > 0 and turnaround >= 0, got {baud}, {turnaround}"
            )
        self._lines[name] = _Line(name, kind, baud, emulate_byte_time, turnaround, {}, emulate_baud)

    def add_device(self, line: str, device: SimDevice) -> Meter:
        """Put a meter on a line; its profile's protocol must fit the line, its id be free."""
        if line not in self._lines:
            raise KeyError(f"no line {line!r}; lines: {sorted(self._lines)}")
        if device.name in self._meters:
            raise ValueError(
                f"device name {device.name!r} is already used (line {self._line_of[device.name]!r})"
            )
        entry = self._lines[line]
        meter = Meter(device, self.seed, self.snapshot())
        wanted = "dlt645" if entry.kind == "dlt645" else "modbus"
        if meter.protocol != wanted:
            raise ValueError(
                f"{device.name}: model {device.model!r} speaks {meter.protocol}, "
                f"line {line!r} is {entry.kind} ({wanted})"
            )
        if entry.kind == "dlt645":
            key: Any = device.address
            if not isinstance(key, str) or not _ADDRESS.match(key):
                raise ValueError(f"{device.name}: DL/T 645 address must be 12 digits, got {key!r}")
        else:
            key = device.slave_id
            if not isinstance(key, int) or not 1 <= key <= 247:
                raise ValueError(f"{device.name}: slave_id must be 1..247, got {key!r}")
        meter.line_baud = entry.baud
        if key in entry.meters:
            raise ValueError(
                f"{device.name}: id {key!r} on {line!r} is already {entry.meters[key].name!r}'s"
            )
        entry.meters[key] = meter
        self._meters[device.name] = meter
        self._line_of[device.name] = line
        return meter

    @classmethod
    def from_config(
        cls,
        config: Any,
        seed: int = 0,
        time_scale: float = 1.0,
        emulate_byte_time: bool = False,
        params: WellParams | None = None,
        **param_overrides: float,
    ) -> SimulatedWell:
        """A well with one line per bus and one meter per device of a GatewayConfig (its
        physics `params`, the simple pump set by default, with any overrides)."""
        well = cls(seed=seed, time_scale=time_scale, params=params, **param_overrides)
        extra = [Path(p) for p in getattr(config, "profile_dirs", [])]
        for bus in config.buses:
            well.add_line(
                bus.name,
                kind=bus.type,
                baud=getattr(bus, "baud", 9600) or 9600,
                emulate_byte_time=emulate_byte_time,
            )
        for dev in config.devices:
            well.add_device(
                dev.bus,
                SimDevice(
                    name=dev.name,
                    model=dev.model,
                    slave_id=getattr(dev, "slave_id", None),
                    address=getattr(dev, "address", None),
                    profile_dirs=extra,
                ),
            )
        return well

    # -- running -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open a pty pair per serial line and start answering (TCP lines start with serve_tcp)."""
        for entry in self._lines.values():
            if entry.kind == "tcp" or entry.serial is not None:
                continue
            if entry.kind == "rtu":
                protocol: Any = RtuProtocol(entry.meters, self.snapshot)
            else:
                protocol = Dlt645Protocol(entry.meters, self.snapshot)
            entry.serial = SerialLine(
                entry.name,
                protocol,
                entry.baud,
                entry.emulate_byte_time,
                entry.turnaround,
                entry.emulate_baud,
            )
            await entry.serial.start()
        self.started = True

    async def serve_tcp(
        self, line: str, host: str = "127.0.0.1", port: int = 0, absent_unit_exception: bool = False
    ) -> int:
        """Serve a "tcp" line's meters as a Modbus TCP server; returns the bound port."""
        entry = self._line(line)
        if entry.kind != "tcp":
            raise ValueError(f"line {line!r} is {entry.kind}, not tcp")
        if entry.tcp is not None:
            raise RuntimeError(f"line {line!r} is already served on port {entry.tcp.port}")
        entry.tcp = TcpLine(line, entry.meters, self.snapshot, absent_unit_exception)
        return await entry.tcp.serve(host, port)

    async def stop(self) -> None:
        """Close every pty and TCP server."""
        for entry in self._lines.values():
            if entry.serial is not None:
                await entry.serial.stop()
                entry.serial = None
            if entry.tcp is not None:
                await entry.tcp.stop()
                entry.tcp = None
        self.started = False

    def port(self, line: str) -> str:
        """Where the gateway connects: the pty path ("/dev/pts/7"), its stable name when link()
        gave it one, or "host:port" for TCP."""
        entry = self._line(line)
        if entry.tcp is not None:
            return f"{entry.tcp.host}:{entry.tcp.port}"
        if entry.link is not None:
            return str(entry.link)
        if entry.serial is None:
            raise RuntimeError(f"line {line!r} is not open: await start() (or serve_tcp() for tcp)")
        return entry.serial.path

    def link(self, line: str, path: str | Path) -> str:
        """Give a serial line a stable name (a symlink, as udev makes /dev/serial/by-id/ names)
        that follows the line's pty across unplug() and replug(); returns the name."""
        entry = self._serial_line(line)
        entry.link = Path(path)
        self._point_link(entry)
        return str(entry.link)

    def unplug(self, line: str) -> None:
        """Pull the USB adapter out: its pty closes (the gateway's reads fail with EIO) and the
        stable name disappears, as the kernel removes the device node."""
        entry = self._serial_line(line)
        entry.serial.unplug()
        if entry.link is not None:
            entry.link.unlink(missing_ok=True)

    def replug(self, line: str) -> None:
        """Plug the adapter back in: a new pty behind the same stable name."""
        entry = self._serial_line(line)
        entry.serial.replug()
        self._point_link(entry)

    def _serial_line(self, line: str) -> Any:
        entry = self._line(line)
        if entry.serial is None:
            raise ValueError(f"line {line!r} is not a started serial line")
        return entry

    @staticmethod
    def _point_link(entry: _Line) -> None:
        if entry.link is None or entry.serial is None or entry.serial.pty is None:
            return
        entry.link.unlink(missing_ok=True)
        entry.link.symlink_to(entry.serial.path)

    def ports(self) -> dict[str, str]:
        """port() of every open line."""
        return {name: self.port(name) for name, e in self._lines.items() if e.serial or e.tcp}

    # -- faults ------------------------------------------------------------------------------------
    def inject(self, device: str, fault: str, count: int | None = None, **params: Any) -> None:
        """Switch a fault on (see faults.py), optionally for the next `count` requests only.

        Faults: no_answer, dead, late(delay=s), crc, exception(code=n), stray(before=, after=),
        garble(probability=p), empty_pipe, freeze(points=[...], values={point: value}); actions
        done at once: rollover(point=None, margin=1.0), reset(point=None), power_cycle (a relay
        module's coils fall back to off).
        """
        meter = self.meter(device)
        if fault in ACTIONS:
            if count is not None:
                raise ValueError(f"{fault} happens once at once: it takes no count, got {count!r}")
            getattr(meter, fault)(self.snapshot(), **params)
            return
        made = make_fault(fault, count, **params)
        if fault == "empty_pipe":
            meter.set_empty_pipe(True, self.snapshot())
        if fault == "freeze":
            meter.freeze(made.params["points"], made.params["values"], self.snapshot())
        meter.faults.set(made)

    def clear(self, device: str, fault: str | None = None) -> None:
        """Switch one fault (or all of them) off; a dead device is revived."""
        meter = self.meter(device)
        if fault in (None, "empty_pipe"):
            meter.set_empty_pipe(False, self.snapshot())
        if fault in (None, "freeze"):
            meter.unfreeze(self.snapshot())
        meter.faults.clear(fault)

    def faults(self, device: str) -> dict[str, dict[str, Any]]:
        """The faults active on a device."""
        return self.meter(device).faults.describe()

    # -- what was served ---------------------------------------------------------------------------
    def meter(self, device: str) -> Meter:
        if device not in self._meters:
            raise KeyError(f"no simulated device {device!r}; devices: {sorted(self._meters)}")
        return self._meters[device]

    def served_values(self, device: str) -> dict[str, Any]:
        """{point: value} as last carried by an intact reply (what the master should decode)."""
        return dict(self.meter(device).served)

    def served_log(self, device: str | None = None) -> list[ServedRecord]:
        """Values served (newest last, bounded), with times and whether the reply was intact."""
        meters = [self.meter(device)] if device else list(self._meters.values())
        records = [r for m in meters for r in m.log]
        return sorted(records, key=lambda r: r.mono_time)

    def values(self, device: str) -> dict[str, Any]:
        """What the device would serve right now, per point, in the point's unit."""
        return self.meter(device).values(self.snapshot())

    def stats(self, line: str) -> dict[str, Any]:
        """Requests seen and replies sent on a line, and per device."""
        entry = self._line(line)
        counters: dict[str, Any] = {}
        if entry.serial is not None:
            counters.update(entry.serial.counters, bad_frames=entry.serial.protocol.bad_frames())
        if entry.tcp is not None:
            counters.update(entry.tcp.counters)
        counters["devices"] = {m.name: dict(m.counters) for m in entry.meters.values()}
        return counters

    def lines(self) -> dict[str, str]:
        """Line name → kind."""
        return {name: e.kind for name, e in self._lines.items()}

    def _line(self, line: str) -> _Line:
        if line not in self._lines:
            raise KeyError(f"no line {line!r}; lines: {sorted(self._lines)}")
        return self._lines[line]
