"""Bus transports: Modbus RTU and TCP through pymodbus, DL/T 645 through pyserial."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import termios
import time

import serial
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from drivers import dlt645, modbus_rtu
from gateway.acquisition import diagnostics as dx

log = logging.getLogger(__name__)
# pymodbus logs every timeout at ERROR; we count and report them ourselves.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class TransactionFailed(Exception):
    """A transaction that produced no usable reply; `outcome` is one of the diagnostics outcomes."""

    def __init__(self, outcome: str, detail: str, answered: bool = False) -> None:
        super().__init__(f"{outcome}: {detail}")
        self.outcome = outcome
        self.detail = detail
        self.answered = answered  # the device is alive (it sent an exception reply)


class _OpenLog:
    """Logs a port that will not open once, and once more when it opens again (not per poll)."""

    def __init__(self) -> None:
        self.failing = False

    def opened(self, name: str, ok: bool, problem: str = "") -> bool:
        if not ok and not self.failing:
            log.warning("cannot open %s: %s; trying again at each poll", name, problem)
        elif ok and self.failing:
            log.info("%s is open again", name)
        self.failing = not ok
        return ok


class _Pacer:
    """Keeps the bus silent for the inter-frame gap between one transaction and the next."""

    def __init__(self, gap: float) -> None:
        self.gap = gap
        self._quiet_from = 0.0

    async def wait(self) -> None:
        remaining = self._quiet_from - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)

    def mark(self) -> None:
        self._quiet_from = time.monotonic() + self.gap


class ModbusTransport:
    """Modbus reads over a pymodbus async client (RTU on a serial port, or TCP).

    pymodbus sends, frames and decodes; this class sets each attempt's deadline (the reply
    timeout plus both frames' time on the wire) and ends an attempt early when the line has gone
    quiet after bytes that pymodbus could not take as a reply (bad CRC, wrong length), so a
    garbling meter costs a few character times, not a whole timeout."""

    def __init__(self, client: AsyncModbusSerialClient | AsyncModbusTcpClient, reply_timeout: float,
                 baud: int | None, gap: float) -> None:
        self.client = client
        self.reply_timeout = reply_timeout
        self.baud = baud  # None for TCP: no wire time, no end-of-frame silence
        self.pacer = _Pacer(gap)
        # End of frame: 3.5 characters of silence, with room for USB adapters' latency timers.
        self.quiet = max(2 * gap, 0.03)
        self._rx = b""
        # The reply heads a waiting read accepts: (slave, function) and (slave, function | 0x80).
        self._pending: tuple[bytes, bytes] | None = None
        self._quiet_timer: asyncio.TimerHandle | None = None
        self._last_rx = 0.0  # monotonic time of the last bytes received
        self._lock = asyncio.Lock()  # one transaction at a time: polls and relay writes
        self._open_log = _OpenLog()
        self._reads = {
            1: client.read_coils,
            2: client.read_discrete_inputs,
            3: client.read_holding_registers,
            4: client.read_input_registers,
        }

    @classmethod
    def serial(cls, port: str, baud: int, parity: str, stop_bits: int, bytesize: int,
               timeout: float, gap: float) -> ModbusTransport:
        """An RTU transport; `timeout` is how long a meter may take to start its reply."""
        self = cls.__new__(cls)
        client = AsyncModbusSerialClient(
            port, baudrate=baud, parity=parity, stopbits=stop_bits, bytesize=bytesize,
            timeout=timeout, retries=0, trace_packet=self._trace, reconnect_delay=0,
        )
        cls.__init__(self, client, timeout, baud, gap)
        return self

    @classmethod
    def tcp(cls, host: str, port: int, timeout: float) -> ModbusTransport:
        """A Modbus TCP transport."""
        self = cls.__new__(cls)
        client = AsyncModbusTcpClient(host, port=port, timeout=timeout, retries=0,
                                      trace_packet=self._trace, reconnect_delay=0)
        cls.__init__(self, client, timeout, None, 0.0)
        return self

    def _trace(self, sending: bool, data: bytes) -> bytes:
        # Keep the receive buffer of the current attempt, to classify a reply pymodbus dropped,
        # and time the end-of-frame silence from the last bytes that arrived (one timer per
        # reply, moved on when it fires early: not a new timer for every chunk of bytes).
        if sending:
            self._rx = b""
        else:
            self._rx = data
            if self.baud is not None and self._pending is not None:
                self._last_rx = time.monotonic()
                if self._quiet_timer is None:
                    self._quiet_timer = asyncio.get_running_loop().call_later(
                        self.quiet, self._line_quiet)
        return data

    def _line_quiet(self) -> None:
        # The line went quiet after bytes pymodbus did not take as a reply. If they look like our
        # slave's reply (its id and our function), it was garbled: end this attempt now, as
        # pymodbus's own timeout would. Anything else (another slave's late reply, noise) may
        # still be followed by ours, so the attempt waits on.
        self._quiet_timer = None
        if self._pending is None:
            return
        left = self._last_rx + self.quiet - time.monotonic()
        if left > 0:  # bytes came since the timer was set: quiet only `quiet` after them
            self._quiet_timer = asyncio.get_running_loop().call_later(left, self._line_quiet)
            return
        pending = self.client.ctx.response_future
        if self._pending is None or pending.done():
            return
        normal, exception = self._pending
        if normal in self._rx or exception in self._rx:
            pending.set_exception(TimeoutError())

    async def open(self) -> bool:
        """Connect; False (logged once until it works again) when the port is not there."""
        params = self.client.comm_params
        name = params.host if self.baud is not None else f"{params.host}:{params.port}"
        try:
            opened = bool(await self.client.connect())
            problem = "" if opened else "it does not open (unplugged, or held by another program?)"
        except (serial.SerialException, OSError, termios.error) as exc:
            # pyserial raises termios.error (not an OSError) for settings the port refuses
            opened, problem = False, str(exc)
        return self._open_log.opened(name, opened, problem)

    async def _ensure_open(self) -> None:
        # pymodbus reconnects by itself only with its own growing delay (up to 300 s); the
        # pollers' back-off decides instead, so a re-plugged adapter is used at the next poll.
        if not self.client.connected and not await self.open():
            raise TransactionFailed(dx.CONNECT_ERROR, f"cannot open {self.client.comm_params.host}")

    async def close(self) -> None:
        self.client.close()

    def deadline(self, function: int, count: int) -> float:
        """Seconds one attempt may take: the reply timeout plus both frames' time on the wire."""
        if self.baud is None:
            return self.reply_timeout
        return self.reply_timeout + modbus_rtu.transaction_time(
            self.baud, 8, modbus_rtu.response_length(function, count))

    async def read(self, slave: int, function: int, address: int, count: int) -> list:
        """Registers (FC 3/4) or bits (FC 1/2); raises TransactionFailed."""
        async with self._lock:
            return await self._read(slave, function, address, count)

    async def write_coil(self, slave: int, address: int, on: bool) -> None:
        """FC 5: switch one coil (a relay channel), between polls; raises TransactionFailed."""
        async with self._lock:
            await self._ensure_open()
            await self.pacer.wait()
            self.client.ctx.comm_params.timeout_connect = self.deadline(5, 1)
            try:
                reply = await self.client.write_coil(address, on, device_id=slave)
            except ConnectionException as exc:
                raise TransactionFailed(dx.CONNECT_ERROR, str(exc)) from None
            except ModbusException as exc:
                raise TransactionFailed(dx.TIMEOUT, f"no valid reply to the coil write ({exc})"
                                        ) from None
            finally:
                self.pacer.mark()
            if reply.isError():
                code = getattr(reply, "exception_code", 0)
                error = modbus_rtu.exception_for_code(code, 5)
                raise TransactionFailed(dx.EXCEPTION_REPLY, str(error), answered=True)

    async def _read(self, slave: int, function: int, address: int, count: int) -> list:
        await self._ensure_open()
        await self.pacer.wait()
        self._rx = b""
        # pymodbus's timeout is one attempt's deadline (pinned pymodbus: comm_params is stable).
        self.client.ctx.comm_params.timeout_connect = self.deadline(function, count)
        self._pending = (bytes((slave, function)), bytes((slave, function | 0x80)))
        try:
            reply = await self._reads[function](address, count=count, device_id=slave)
        except ConnectionException as exc:
            raise TransactionFailed(dx.CONNECT_ERROR, str(exc)) from None
        except ModbusException:
            raise self._classify_silence(slave, function, count) from None
        finally:
            self._pending = None
            if self._quiet_timer is not None:
                self._quiet_timer.cancel()
                self._quiet_timer = None
            self.pacer.mark()
        if reply.isError():
            code = getattr(reply, "exception_code", 0)
            error = modbus_rtu.exception_for_code(code, function)
            raise TransactionFailed(dx.EXCEPTION_REPLY, str(error), answered=True)
        if reply.function_code != function:
            raise TransactionFailed(
                dx.MALFORMED, f"reply has function {reply.function_code}, expected {function}")
        values = reply.registers if function in (3, 4) else reply.bits[:count]
        if len(values) != count:
            raise TransactionFailed(
                dx.MALFORMED, f"reply has {len(values)} values, expected {count}")
        return values

    def _classify_silence(self, slave: int, function: int, count: int) -> TransactionFailed:
        """Why no reply was accepted: nothing came, or what came was broken."""
        rx = self._rx
        if not rx:
            return TransactionFailed(dx.TIMEOUT, "no reply")
        if self.baud is None:
            return TransactionFailed(dx.MALFORMED, f"unusable reply {rx[:40].hex(' ')}")
        expected = modbus_rtu.response_length(function, count)
        try:
            modbus_rtu.parse_read_response(rx, slave, function, count)
        except modbus_rtu.CrcError as exc:
            return TransactionFailed(dx.CRC_ERROR, str(exc))
        except modbus_rtu.SlaveException as exc:
            return TransactionFailed(dx.EXCEPTION_REPLY, str(exc), answered=True)
        except modbus_rtu.ModbusError as exc:
            if len(rx) < expected:
                return TransactionFailed(
                    dx.MALFORMED, f"incomplete reply: {len(rx)} of {expected} bytes")
            return TransactionFailed(dx.MALFORMED, str(exc))
        return TransactionFailed(dx.MALFORMED, f"reply not accepted: {rx[:40].hex(' ')}")


class Dlt645Transport:
    """DL/T 645-2007 reads on a serial port through pyserial, driven by the event loop."""

    _LONGEST_REPLY = 4 + 12 + 4 + 8 + 2  # preamble, header, DI, 8 value bytes, CS and end

    def __init__(self, port: str, baud: int, parity: str, stop_bits: int, bytesize: int,
                 timeout: float, gap: float) -> None:
        self.settings = dict(port=port, baudrate=baud, parity=parity, stopbits=stop_bits,
                             bytesize=bytesize)
        self.timeout = timeout
        self.pacer = _Pacer(gap)
        self._serial: serial.Serial | None = None
        self._buffer = bytearray()
        self._arrived = asyncio.Event()
        self._open_log = _OpenLog()

    async def open(self) -> bool:
        if self._serial is not None:
            return True
        try:
            self._serial = serial.Serial(timeout=0, write_timeout=0, exclusive=True,
                                         **self.settings)
        except (serial.SerialException, OSError, termios.error) as exc:
            return self._open_log.opened(self.settings["port"], False, str(exc))
        self._open_log.opened(self.settings["port"], True)
        asyncio.get_running_loop().add_reader(self._serial.fileno(), self._on_readable)
        return True

    async def close(self) -> None:
        if self._serial is not None:
            asyncio.get_running_loop().remove_reader(self._serial.fileno())
            self._serial.close()
            self._serial = None

    def _on_readable(self) -> None:
        assert self._serial is not None
        try:
            self._buffer += os.read(self._serial.fileno(), 4096)
        except BlockingIOError:
            return
        except OSError as exc:  # the adapter went away; reopen on the next transaction
            log.warning("read from %s failed: %s", self.settings["port"], exc)
            asyncio.get_running_loop().create_task(self.close())
        self._arrived.set()

    async def _exchange(self, request: bytes) -> bytes:
        """Send one request and return the first complete frame that comes back."""
        if not await self.open():
            raise TransactionFailed(dx.CONNECT_ERROR, f"cannot open {self.settings['port']}")
        await self.pacer.wait()
        self._buffer.clear()
        assert self._serial is not None
        try:
            os.write(self._serial.fileno(), request)
        except OSError as exc:  # EIO: the adapter was unplugged; reopen at a later poll
            await self.close()
            raise TransactionFailed(
                dx.CONNECT_ERROR, f"write to {self.settings['port']} failed: {exc}") from None
        baud = self.settings["baudrate"]
        wire = modbus_rtu.transaction_time(baud, len(request), self._LONGEST_REPLY)
        deadline = time.monotonic() + self.timeout + wire
        try:
            while True:
                found = dlt645.find_frame(bytes(self._buffer))
                if found is not None:
                    return bytes(self._buffer[found[0]:found[1]])
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if self._buffer:
                        seen = bytes(self._buffer[:40]).hex(" ")
                        raise TransactionFailed(dx.MALFORMED, f"no complete frame in {seen}")
                    raise TransactionFailed(dx.TIMEOUT, "no reply")
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)
        finally:
            self.pacer.mark()

    async def read(self, address: str, di: str) -> bytes:
        """The value bytes of one data identifier; raises TransactionFailed."""
        frame = await self._exchange(dlt645.build_read_request(address, di))
        try:
            return dlt645.parse_read_reply(frame, address, di)
        except dlt645.AbnormalReply as exc:
            raise TransactionFailed(dx.EXCEPTION_REPLY, str(exc), answered=True) from None
        except dlt645.ChecksumError as exc:
            raise TransactionFailed(dx.CRC_ERROR, str(exc)) from None
        except dlt645.Dlt645Error as exc:
            raise TransactionFailed(dx.MALFORMED, str(exc)) from None

    async def read_address(self) -> str:
        """The address of the one meter on the line (broadcast read-address)."""
        frame = await self._exchange(dlt645.build_read_address_request())
        try:
            return dlt645.parse_read_address_reply(frame)
        except dlt645.ChecksumError as exc:
            raise TransactionFailed(dx.CRC_ERROR, str(exc)) from None
        except dlt645.Dlt645Error as exc:
            raise TransactionFailed(dx.MALFORMED, str(exc)) from None
