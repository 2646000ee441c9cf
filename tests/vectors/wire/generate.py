"""How the golden wire batches here were made; run it only to add a vector, never to "fix" one.

    .venv/bin/python tests/vectors/wire/generate.py

Each vector is NAME.json (the header, blocks, records and recipes) and NAME.batch (the bytes).
The records and blocks are written here by hand; the values marked BY_RECIPE are what the
channel's recipe gives (tests/test_uplink_wire_vectors.py recomputes them independently from
docs/wire-format.md), the block signatures are made with the fixed key below over the chain
heads of docs/store.md, and the bytes are the encoder's (gateway/uplink/wire.py) at the time the
vector was added. tests/test_uplink_wire_vectors.py holds the encoder and decoder to them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from gateway.store import chain  # noqa: E402
from gateway.uplink import wire  # noqa: E402
from gateway.uplink.payload import BlockSignature, Tombstone  # noqa: E402
from gateway.uplink.recipes import Recipe  # noqa: E402

# RFC 8032 section 7.1, TEST 1: its secret key (a published test key, so the signatures here
# are deterministic and anyone can check them; never a gateway's key).
KEY_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
BY_RECIPE = object()  # the value is what the channel's recipe gives for the raw
GATEWAY = "150602-0017"


def tombstone(seq: int, what: str) -> dict[str, Any]:
    return {"tombstone": seq, "leaf": hashlib.sha256(what.encode()).hexdigest()}


def reading(seq: int, device: str, point: str, value: Any, unit: str, raw: list[int],
            wall: float, mono: float, boot: int = 1, quality: str = "good",
            data: dict[str, Any] | None = None, kind: str = "reading") -> list[Any]:
    return [seq, kind, device, point, value, unit, quality, raw, wall, mono, boot, data]


INSTANT, TOTAL, STATUS = {"kind": "instant"}, {"kind": "total"}, {"kind": "status"}

SMALL = {
    "description": "Two blocks: a float32 CDAB channel by recipe, a thinned record (tombstone), "
                   "an alarm with an int value and a data object, a DL/T 645 total by recipe. "
                   "Worked through byte by byte in small.payload.txt.",
    "gateway": GATEWAY, "nonce": 7, "sent": 1700000125.0, "resume": False,
    "first_block": 0, "prev_head": chain.ZERO_HEAD.hex(),
    "block_sizes": [2, 3],
    "recipes": [
        {"device": "flow", "point": "flow_rate",
         "recipe": ["modbus", "float32", "CDAB", 1.0, 0.0, None, None]},
        {"device": "grid", "point": "import_energy", "recipe": ["dlt645", 2, False]},
    ],
    "records": [
        reading(1, "flow", "flow_rate", BY_RECIPE, "m³/h", [0x0000, 0x4212], 1700000000.0,
                100.0, data=INSTANT),
        reading(2, "flow", "flow_rate", BY_RECIPE, "m³/h", [0x0000, 0x4214], 1700000060.0,
                160.0, data=INSTANT),
        tombstone(3, "a thinned reading"),
        reading(4, "store", "store_write_failing", 3, "records", [], 1700000090.5, 190.5,
                data={"since": 1.25, "state": "cleared"}, kind="alarm"),
        reading(5, "grid", "import_energy", BY_RECIPE, "kWh", [0x78, 0x56, 0x34, 0x12],
                1700000120.0, 220.0, data=TOTAL),
    ],
}

_LEVEL = {"device": "level", "point": "level", "recipe": ["modbus", "i16", "ABCD", 1.0, 0.0,
                                                          None, None],
          "decimals_from": "decimal_point"}
KINDS = {
    "description": "Three blocks after seq 100, resume set: every Modbus register type by "
                   "recipe (scaled, CDAB, enum named and unnamed, bits, string, long_fraction, "
                   "float64, BCD, decimals from a register), values sent as null, int, float "
                   "and string, raw widths 1, 2, 4 and 8, a verbatim record, tombstones, a "
                   "store event, a boot change and a monotonic clock that drifts.",
    "gateway": GATEWAY, "nonce": 1234567, "sent": 1700003600.25, "resume": True,
    "first_block": 40, "prev_head": hashlib.sha256(b"the head before seq 101").hexdigest(),
    "block_sizes": [9, 1, 17],
    "recipes": [
        {"device": "energy", "point": "voltage_l1",
         "recipe": ["modbus", "u16", "ABCD", 0.1, 0.0, None, None]},
        {"device": "energy", "point": "active_power",
         "recipe": ["modbus", "i32", "CDAB", 1.0, 0.0, None, None]},
        {"device": "energy", "point": "import_energy",
         "recipe": ["modbus", "u32", "ABCD", 0.01, 0.0, None, None]},
        {"device": "flow", "point": "forward_total",
         "recipe": ["modbus", "long_fraction", "CDAB", 1.0, 0.0, None, None]},
        {"device": "flow", "point": "velocity",
         "recipe": ["modbus", "float64", "ABCD", 1.0, 0.0, None, None]},
        {"device": "flow", "point": "flow_rate",
         "recipe": ["modbus", "float32", "DCBA", 1.0, 0.0, None, None]},
        {"device": "flow", "point": "error_code",
         "recipe": ["modbus", "bits16", "ABCD", 1.0, 0.0, None, None]},
        {"device": "flow", "point": "pipe_status",
         "recipe": ["modbus", "u16", "ABCD", 1.0, 0.0, None, {"85": "empty", "170": "full"}]},
        {"device": "flow", "point": "model",
         "recipe": ["modbus", "string", "ABCD", 1.0, 0.0, None, None]},
        {"device": "level", "point": "decimal_point",
         "recipe": ["modbus", "u16", "ABCD", 1.0, 0.0, None, None]},
        _LEVEL,
        {"device": "level", "point": "unit_code",
         "recipe": ["modbus", "bcd16", "ABCD", 1.0, -1.0, None, None]},
        {"device": "grid", "point": "active_power", "recipe": ["dlt645", 4, True]},
    ],
    "records": [
        reading(101, "energy", "voltage_l1", BY_RECIPE, "V", [2302], 1700003000.0, 5000.0,
                data=INSTANT),
        reading(102, "energy", "active_power", BY_RECIPE, "W", [0xFFFE, 0xFFFF], 1700003000.0,
                5000.0, data=INSTANT),
        reading(103, "energy", "import_energy", BY_RECIPE, "kWh", [0x0001, 0x0000],
                1700003000.0, 5000.0, data=TOTAL),
        reading(104, "flow", "forward_total", BY_RECIPE, "m³",
                [0xE240, 0x0001, 0x0000, 0x3F00], 1700003000.5, 5000.5, data=TOTAL),
        reading(105, "flow", "velocity", BY_RECIPE, "m/s", [0x3FB9, 0x9999, 0x9999, 0x999A],
                1700003000.5, 5000.5, data=INSTANT),
        reading(106, "flow", "flow_rate", BY_RECIPE, "m³/h", [0x1E85, 0x0B3F], 1700003000.5,
                5000.5, data=INSTANT),
        reading(107, "flow", "error_code", BY_RECIPE, "", [0x8001], 1700003000.5, 5000.5,
                data=STATUS),
        reading(108, "flow", "pipe_status", BY_RECIPE, "", [170], 1700003000.5, 5000.5,
                data=STATUS),
        reading(109, "flow", "model", BY_RECIPE, "", [0x5444, 0x5331, 0x3030, 0x0000],
                1700003000.5, 5000.5, data=STATUS),
        tombstone(110, "thinned 110"),
        reading(111, "level", "decimal_point", BY_RECIPE, "", [2], 1700003001.0, 5001.0,
                data={"kind": "config"}),
        reading(112, "level", "level", 49.55, "m", [4955], 1700003001.0, 5001.0, data=INSTANT),
        reading(113, "level", "unit_code", BY_RECIPE, "", [0x1234], 1700003001.0, 5001.0,
                data={"kind": "config"}),
        reading(114, "grid", "active_power", BY_RECIPE, "kW", [0x12, 0x25, 0x80], 1700003001.25,
                5001.25, data=INSTANT),
        # The same channels a minute later; the monotonic clock runs 1 ms slow of the wall.
        reading(115, "energy", "voltage_l1", BY_RECIPE, "V", [2291], 1700003060.0, 5059.999,
                data=INSTANT),
        reading(116, "flow", "pipe_status", BY_RECIPE, "", [1], 1700003060.0, 5059.999,
                quality="invalid", data=STATUS),  # no name for raw 1: the int itself
        reading(117, "flow", "flow_rate", None, "m³/h", [0x0000, 0x1242], 1700003060.0,
                5059.999, quality="invalid", data=INSTANT),  # null, not the recipe's 36.5
        reading(118, "level", "level", -1.23, "m", [0xFF85], 1700003061.0, 5060.999,
                data=INSTANT),
        reading(119, "store", "store_started", None, "", [], 1700003062.0, 0.5, boot=2,
                kind="store_event", data={"version": 1}),
        reading(120, "manual", "dip_level", 12.25, "m", [], 1700003063.0, 1.5, boot=2),
        reading(121, "manual", "dip_level", 12.5, "m", [], 1700003123.0, 61.5, boot=2),
        reading(122, "manual", "note", "电磁流量计", "", [], 1700003124.0, 62.5, boot=2),
        reading(123, "store", "store_write_failing", 3, "records", [], 1700003125.0, 63.5,
                boot=2, kind="alarm", data={"since": 1.25, "state": "raised"}),
        reading(124, "odd", "wide", None, "", [70000, 1], 1700003126.0, 64.5, boot=2,
                quality="invalid"),
        reading(125, "odd", "huge", None, "", [2**40, 3], 1700003127.0, 65.5, boot=2,
                quality="invalid"),
        # A foreign writer's int wall_time: the columns cannot carry it exactly, so verbatim.
        reading(126, "odd", "int_time", 1, "", [], 1700003128, 66.5, boot=2),
        tombstone(127, "thinned 127"),
    ],
}

VECTORS = {"small": SMALL, "kinds": KINDS}


def recipes_of(vector: dict[str, Any]) -> dict[tuple[str, str], Recipe]:
    recipes = {}
    for entry in vector["recipes"]:
        recipe = Recipe.from_wire(entry["recipe"])
        if entry.get("decimals_from"):
            recipe = Recipe(recipe.protocol, recipe.type, recipe.order, recipe.scale,
                            recipe.offset, None, recipe.enum, recipe.signed,
                            entry["decimals_from"])
        recipes[(entry["device"], entry["point"])] = recipe
    return recipes


def build(vector: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The vector's JSON (values filled in, blocks signed) and the encoder's bytes for it."""
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(KEY_SEED))
    recipes = recipes_of(vector)
    records: list[Any] = []
    for item in vector["records"]:
        if isinstance(item, dict):
            records.append(Tombstone(item["tombstone"], bytes.fromhex(item["leaf"])))
            continue
        fields = list(item)
        if fields[4] is BY_RECIPE:
            fields[4] = recipes[(fields[2], fields[3])].value(fields[7])
        records.append(tuple(fields))
    prev_head = bytes.fromhex(vector["prev_head"])
    first = records[0]
    seq = first.seq if isinstance(first, Tombstone) else first[0]
    head, blocks, position = prev_head, [], 0
    for number, size in enumerate(vector["block_sizes"]):
        start = head
        for record in records[position:position + size]:
            leaf = (record.leaf if isinstance(record, Tombstone)
                    else chain.leaf_hash(chain.canonical_bytes(record)))
            head = chain.chain_step(head, leaf)
        block_no = vector["first_block"] + number
        blocks.append(BlockSignature(block_no, seq, seq + size - 1,
                                     chain.sign_block(key, block_no, seq, seq + size - 1, start,
                                                      head)))
        seq += size
        position += size
    data = wire.encode_batch(key, vector["gateway"], vector["nonce"], vector["sent"], blocks,
                             records, prev_head, head, recipes, vector["resume"])
    header = wire.open_envelope(data).header
    described = {
        "description": vector["description"],
        "key_seed": KEY_SEED,
        "header": header,
        "recipes": vector["recipes"],
        "blocks": [{"block_no": b.block_no, "first_seq": b.first_seq, "last_seq": b.last_seq,
                    "signature": b.signature.hex()} for b in blocks],
        "records": [{"tombstone": r.seq, "leaf": r.leaf.hex()} if isinstance(r, Tombstone)
                    else list(r) for r in records],
    }
    return described, data


def as_json(described: dict[str, Any]) -> str:
    """The vector as JSON with one record, block or recipe a line (floats as Python's repr)."""
    def one(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    parts = []
    for name, value in described.items():
        if isinstance(value, list):
            rows = ",\n".join(f"  {one(item)}" for item in value)
            parts.append(f" {one(name)}: [\n{rows}\n ]")
        else:
            parts.append(f" {one(name)}: {one(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main() -> None:
    for name, vector in VECTORS.items():
        described, data = build(vector)
        (HERE / f"{name}.json").write_text(as_json(described), encoding="utf-8")
        (HERE / f"{name}.batch").write_bytes(data)
        print(f"{name}: {len(data)} bytes, {len(described['records'])} records")


if __name__ == "__main__":
    main()
