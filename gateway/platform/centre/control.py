"""Running the centre as a process: the ready line, then one JSON command per stdin line, each
answered by one JSON line on stdout ({"id", "ok": true, "result"} or {"ok": false, "error"}).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
from typing import Any

from gateway.platform.centre.db import CentreDb
from gateway.platform.centre.faults import Faults
from gateway.platform.centre.server import Centre


async def run_command(centre: Centre, command: dict[str, Any]) -> Any:
    """One control command's result; raises with a message naming what was expected."""
    name = command.get("cmd")
    if name == "fault":
        fault = centre.faults.set(command.get("fault", ""), count=command.get("count"),
                                  delay=command.get("delay", 0.0),
                                  station=command.get("station"))
        return fault.as_dict()
    if name == "clear":
        return {"cleared": centre.faults.clear(command.get("station"))}
    if name == "faults":
        return centre.faults.active()
    if name == "send":
        for key in ("station", "command"):
            if not isinstance(command.get(key), str):
                raise ValueError(f"send needs {key!r} (a string), got {command.get(key)!r}")
        return await centre.command(command["station"], command["command"],
                                    command.get("args") or {},
                                    float(command.get("timeout", 5.0)))
    if name == "stations":
        return sorted(centre.stations)
    if name == "reports":
        return centre.db.reports(command.get("station"))
    if name == "stats":
        return dict(centre.counts, stations=sorted(centre.stations),
                    faults=centre.faults.active())
    raise ValueError(f"unknown command {name!r}; known: fault, clear, faults, send, stations, "
                     "reports, stats, stop")


async def serve(side: Any, db_path: str, *, host: str = "127.0.0.1", port: int = 0,
                faults: list[tuple[str, int | None]] = (), ack_delay: float = 0.0) -> None:
    """Run the centre until SIGTERM or the stop command (docs/centres.md lists the commands)."""
    db = CentreDb(db_path)
    fault_state = Faults(side.protocol)
    for kind, count in faults:
        fault_state.set(kind, count=count, delay=ack_delay)
    centre = Centre(side, db, fault_state, host, port)
    bound = await centre.start()
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)

    def emit(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()

    async def handle(line: str) -> None:
        command: Any = None
        try:
            command = json.loads(line)
            if not isinstance(command, dict):
                raise ValueError(f"expected a JSON object, got {line.strip()!r}")
            if command.get("cmd") == "stop":
                done.set()
                emit({"id": command.get("id"), "ok": True, "result": None})
                return
            emit({"id": command.get("id"), "ok": True,
                  "result": await run_command(centre, command)})
        except Exception as error:  # every failure is answered on the channel; the centre runs on
            emit({"id": command.get("id") if isinstance(command, dict) else None, "ok": False,
                  "error": f"{type(error).__name__}: {error}", "command": line.strip()})

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.strip():
                asyncio.run_coroutine_threadsafe(handle(line), loop)

    emit({"event": "ready", "protocol": side.protocol, "host": host, "port": bound,
          "db": str(db.path), "pid": os.getpid()})
    threading.Thread(target=read_stdin, name="control", daemon=True).start()
    await done.wait()
    await centre.stop()
    db.close()
