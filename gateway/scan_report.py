"""What `wellgate scan` found, in words an installer reads, and as config to paste."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from drivers.modbus_errors import exception_for_code
from gateway.profiles import available_profiles, load_profile_file
from gateway.scan_match import Found

DEFAULT_BUS = "rs485-1"


def _exception_words(answer: str) -> str:
    """'slave answered function 3 with exception code 2 (...)' -> 'exception 2 (illegal data
    address: ...)'."""
    code = re.search(r"exception code (\d+)", answer)
    if code is None:
        return answer
    number = int(code.group(1))
    return f"exception {number} ({exception_for_code(number, 3).MEANING.split(':')[0]})"


def describe(found: Found) -> str:
    """One device in a sentence: where it answered, how, and which profile explains it."""
    if found.protocol == "dlt645":
        where = f"address {found.address} at {found.line} (DL/T 645)"
        return f"{where}: answers read-address; use model dlt645-generic"
    where = f"id {found.slave_id} at {found.line}"
    if found.answer == "reply":
        how = "answers"
    else:
        how = f"answers with {_exception_words(found.answer)} to a read of register 0"
    if not found.matches:
        return (f"{where}: {how}; no profile explains its registers: add one for its model "
                "(config/profiles/) or check its manual")
    best, others = found.matches[0], found.matches[1:]
    evidence = f"{best.plausible} of {best.points} points plausible"
    if best.fits:
        text = f"{where}: {how}; matches {best.profile}, {evidence}"
    else:
        flaw = "a read was refused" if best.blocks_read < best.blocks else "a value is implausible"
        text = (f"{where}: {how}; closest is {best.profile}, {evidence}, but {flaw}: check the "
                "model before using it")
    if others:
        text += "; next: " + ", ".join(f"{m.profile} ({m.plausible} of {m.points})"
                                       for m in others)
    return text


def device_name(found: Found, roles: dict[str, str]) -> str:
    """A name for the device in the config: its role and id, e.g. "energy-2"."""
    role = roles.get(found.matches[0].profile, "meter") if found.matches else "meter"
    return f"{role}-{found.slave_id if found.address is None else found.address[-4:]}"


def profile_roles() -> dict[str, str]:
    """Each profile's role (flow, energy, level, relay), by name."""
    roles = {}
    for name, path in available_profiles().items():
        try:
            roles[name] = load_profile_file(path).model.role
        except Exception:  # a broken profile file names no role; the scan lists it elsewhere
            continue
    return roles


@dataclass
class DeviceChoice:
    """A device as it goes into the config."""

    name: str
    model: str
    slave_id: int | None = None
    address: str | None = None


@dataclass
class BusChoice:
    """A bus as it goes into the config, with its devices."""

    name: str
    type: str  # rtu | dlt645
    port: str
    baud: int
    parity: str
    devices: list[DeviceChoice] = field(default_factory=list)


def usable(found: list[Found]) -> tuple[list[Found], list[Found]]:
    """(the devices of the line settings most of them answered at whose best profile fits, the
    rest)."""
    fitting = [f for f in found if f.matches and f.matches[0].fits]
    if not fitting:
        return [], list(found)
    common = Counter((f.protocol, f.baud, f.parity) for f in fitting).most_common(1)[0][0]
    chosen = [f for f in fitting if (f.protocol, f.baud, f.parity) == common]
    return chosen, [f for f in found if f not in chosen]


def left_out(rest: list[Found], chosen: list[Found]) -> list[str]:
    """Why each device that answered is not in the config, one line each."""
    lines = []
    for hit in rest:
        ident = f"id {hit.slave_id}" if hit.address is None else f"address {hit.address}"
        if not (hit.matches and hit.matches[0].fits) or not chosen:
            why = "no profile fits it"
        else:
            why = (f"it answered at {hit.line}, the bus runs at {chosen[0].line}: set the meter "
                   "to the bus's settings, then scan again")
        lines.append(f"{ident} left out: {why}")
    return lines


def bus_choice(chosen: list[Found], port: str, bus_name: str = DEFAULT_BUS) -> BusChoice:
    """The bus and devices of `chosen` (all at one line setting, see usable), named by role."""
    first = chosen[0]
    roles = profile_roles()
    bus = BusChoice(bus_name, "dlt645" if first.protocol == "dlt645" else "rtu", port,
                    first.baud, first.parity)
    bus.devices = [DeviceChoice(device_name(hit, roles), hit.matches[0].profile, hit.slave_id,
                                hit.address) for hit in chosen]
    return bus


def _text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def bus_toml(bus: BusChoice) -> list[str]:
    """The `[[buses]]` table and its `[[devices]]` tables, as TOML lines."""
    lines = ["[[buses]]", f"name = {_text(bus.name)}", f"type = {_text(bus.type)}",
             f"port = {_text(bus.port)}", f"baud = {bus.baud}", f"parity = {_text(bus.parity)}",
             ""]
    for device in bus.devices:
        lines += ["[[devices]]", f"name = {_text(device.name)}", f"bus = {_text(bus.name)}",
                  f"model = {_text(device.model)}",
                  (f"slave_id = {device.slave_id}" if device.address is None
                   else f"address = {_text(device.address)}"), ""]
    return lines


def snippet(found: list[Found], port: str, bus_name: str = DEFAULT_BUS) -> str:
    """`[[buses]]` and `[[devices]]` TOML for what answered, ready to paste into a site config;
    devices it cannot use are named in comments with why."""
    chosen, rest = usable(found)
    lines = bus_toml(bus_choice(chosen, port, bus_name)) if chosen else []
    lines += [f"# {line}" for line in left_out(rest, chosen)]
    return "\n".join(lines).rstrip()
