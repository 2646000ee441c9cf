"""Golden wire batches (tests/vectors/wire/): fixed bytes, the records they must decode to.

Each vector is checked three ways: a decoder written here from docs/wire-format.md alone (the
standard library's struct, zlib, json and hashlib; nothing of gateway/) reads the bytes to the
vector's JSON; the real encoder writes exactly those bytes from that JSON; the real decoder
reads them back to it. small.payload.txt is the small vector's payload worked out by hand.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.uplink import wire
from gateway.uplink.payload import BlockSignature, Tombstone, records_equal
from gateway.uplink.recipes import Recipe

VECTORS = Path(__file__).parent / "vectors" / "wire"
NAMES = ("small", "kinds")


def vector(name: str) -> tuple[dict[str, Any], bytes]:
    described = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    return described, (VECTORS / f"{name}.batch").read_bytes()


def same(a: Any, b: Any) -> bool:
    """Equal in type and value, floats bit for bit, recursively (1 is not 1.0, -0.0 not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack(">d", a) == struct.pack(">d", b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


# === An independent decoder, step by step as docs/wire-format.md says ===========================


class Cursor:
    """Bytes read front to back; every read checks that the bytes are there."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, size: int) -> bytes:
        assert self.pos + size <= len(self.data), f"{size} bytes wanted at {self.pos}"
        self.pos += size
        return self.data[self.pos - size:self.pos]

    def uvarint(self) -> int:  # unsigned LEB128: 7 bits a byte, low group first
        value = shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    def uvarints(self, count: int) -> list[int]:
        return [self.uvarint() for _ in range(count)]

    def text(self) -> str:  # uvarint length, UTF-8
        return self.take(self.uvarint()).decode("utf-8")

    def blob(self) -> Cursor:  # uvarint length, bytes
        return Cursor(self.take(self.uvarint()))

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.pos)

    def all_uvarints(self) -> list[int]:
        values = []
        while self.pos < len(self.data):
            values.append(self.uvarint())
        return values

    def at_end(self) -> bool:
        return self.pos == len(self.data)


def unzigzag(value: int) -> int:  # 0, 1, 2, 3, 4 ... -> 0, -1, 1, -2, 2 ...
    return value // 2 if value % 2 == 0 else -(value + 1) // 2


def float_key(value: float) -> int:  # bits as int64; negative floats: -(bits & 0x7FFF...) - 1
    bits = struct.unpack(">Q", struct.pack(">d", value))[0]
    return bits if bits < 1 << 63 else -(bits & ((1 << 63) - 1)) - 1


def key_float(key: int) -> float:
    bits = key if key >= 0 else (-key - 1) | 1 << 63
    return struct.unpack(">d", struct.pack(">Q", bits))[0]


def from_planes(data: bytes, width: int) -> list[int]:
    """n values of `width` bytes, big-endian, written as all first bytes, all second bytes, ..."""
    count = len(data) // width
    assert count * width == len(data)
    return [int.from_bytes(bytes(data[plane * count + i] for plane in range(width)), "big")
            for i in range(count)]


# --- recipes: a value from raw, as the section "Recipes: values from raw" defines it -----------

_STRUCTS = {"u16": "H", "i16": "h", "bits16": "H", "u32": "I", "i32": "i", "bits32": "I",
            "float32": "f", "u64": "Q", "i64": "q", "float64": "d"}


def register_bytes(raw: list[int], order: str) -> bytes:
    """The value's bytes most significant first. A register travels high byte first (Modbus
    Application Protocol V1.1b3 section 4.2); ABCD: registers most significant first, CDAB: least
    significant first, BADC: as ABCD with each register's bytes swapped, DCBA: both."""
    words = list(reversed(raw)) if order in ("CDAB", "DCBA") else list(raw)
    data = b"".join(struct.pack(">H", word) for word in words)
    if order in ("BADC", "DCBA"):
        data = b"".join(data[i + 1:i + 2] + data[i:i + 1] for i in range(0, len(data), 2))
    return data


def register_value(raw: list[int], type_: str, order: str) -> int | float | str:
    if type_ in _STRUCTS:  # two's complement integers, IEEE 754 binary32/binary64
        return struct.unpack(">" + _STRUCTS[type_], register_bytes(raw, order))[0]
    if type_ in ("bcd16", "bcd32"):  # one decimal digit per nibble
        digits = register_bytes(raw, order).hex()
        assert digits.isdigit()
        return int(digits)
    if type_ == "long_fraction":  # i32 whole units, then a float32 fraction, each in `order`
        return (struct.unpack(">i", register_bytes(raw[:2], order))[0]
                + struct.unpack(">f", register_bytes(raw[2:], order))[0])
    if type_ == "string":  # ASCII, two characters a register; only the byte swap applies
        data = register_bytes(raw, "BADC" if order in ("BADC", "DCBA") else "ABCD")
        return data.rstrip(b"\x00 ").decode("ascii")
    raise AssertionError(f"no register type {type_!r} in the spec")


def recipe_value(recipe: list[Any], raw: list[int]) -> Any:
    if recipe[0] == "dlt645":  # BCD bytes low byte first; signed: top bit of the last is the sign
        _, decimals, signed = recipe
        data = bytearray(raw)
        negative = bool(signed and data[-1] & 0x80)
        if signed:
            data[-1] &= 0x7F
        value = int(bytes(reversed(data)).hex()) / 10 ** decimals
        return (-value if negative else value) + 0.0  # as the store keeps it: no -0.0
    _, type_, order, scale, offset, decimals, enum = recipe
    v = register_value(raw, type_, order)
    if isinstance(v, str):
        return v
    if enum:
        return enum.get(str(int(v)), int(v))
    if type_.startswith("bits"):
        return int(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if not (scale == 1.0 and offset == 0.0 and decimals is None):
        v = v * scale  # then 10^-decimals, then the offset, as a float
        if decimals:
            v = v / 10 ** decimals if decimals > 0 else v * 10 ** -decimals
        v = float(v + offset)
    if isinstance(v, float):  # as the store keeps it: -0.0 as 0.0, inf as null
        return v + 0.0 if math.isfinite(v) else None
    return v if -(1 << 63) <= v < 1 << 63 else str(v)  # SQLite keeps 64-bit ints


# --- the batch -----------------------------------------------------------------------------------


def independent_decode(data: bytes, public_key: Any) -> dict[str, Any]:
    """The vector's JSON (header, blocks, records) from batch bytes, following the spec."""
    assert data[:4] == b"WGB1"
    size = struct.unpack(">H", data[4:6])[0]
    header_bytes = data[6:6 + size]
    header = json.loads(header_bytes.decode("utf-8"))
    assert header_bytes == json.dumps(header, separators=(",", ":"), sort_keys=True,
                                      ensure_ascii=False).encode("utf-8")  # compact, sorted
    signature, payload = data[6 + size:6 + size + 64], data[6 + size + 64:]
    public_key.verify(signature, b"wellgate-batch-v1" + header_bytes)  # raises if not
    assert header["v"] == 1 and header["compression"] == "zlib"
    assert hashlib.sha256(payload).hexdigest() == header["payload_sha256"]
    columns = zlib.decompress(payload)
    assert len(columns) == header["payload_size"]
    blocks, records = decode_columns(columns, header["first_seq"], header["first_block"])
    return {"header": header, "blocks": blocks, "records": records}


def decode_columns(columns: bytes, first_seq: int, first_block: int) -> tuple[list, list]:
    r = Cursor(columns)
    # 1. channels: kind, device, point, unit, recipe (JSON or empty), one byte raw width
    channels = []
    for _ in range(r.uvarint()):
        kind, device, point, unit, recipe = (r.text() for _ in range(5))
        channels.append((kind, device, point, unit, json.loads(recipe) if recipe else None,
                         r.take(1)[0]))
    # 2.-4. the data, string and quality tables
    data_table = [json.loads(r.text()) for _ in range(r.uvarint())]
    string_table = [r.text() for _ in range(r.uvarint())]
    quality_table = [r.text() for _ in range(r.uvarint())]
    # 5. blocks: count, sizes, signatures
    sizes = r.uvarints(r.uvarint())
    blocks, seq = [], first_seq
    for index, block_size in enumerate(sizes):
        blocks.append({"block_no": first_block + index, "first_seq": seq,
                       "last_seq": seq + block_size - 1, "signature": r.take(64).hex()})
        seq += block_size
    total = seq - first_seq
    # 6.-8. what each seq is, the tombstones' leaves, the verbatim records
    kinds = r.uvarints(total)
    leaves = [r.take(32).hex() for _ in range(kinds.count(0))]
    verbatim = [json.loads(r.text()) for _ in range(kinds.count(1))]
    # 9. per-record columns, channel by channel (each channel's records in seq order)
    order = [offset for channel in range(len(channels))
             for offset, k in enumerate(kinds) if k == channel + 2]
    qualities, data_refs = r.uvarints(len(order)), r.uvarints(len(order))
    modes = r.take(len(order))
    ints, floats, strs = r.blob(), r.blob(), r.blob()
    lengths = r.blob().all_uvarints()
    by_width = {w: from_planes(r.blob().rest(), w) for w in (1, 2, 4)}
    by_width[8] = [unzigzag(v) for v in r.blob().all_uvarints()]
    # 10. clocks of the channel records in seq order
    walls, monos, boots = (r.blob().all_uvarints() for _ in range(3))
    assert r.at_end()

    fields: dict[int, list[Any]] = {}
    used = dict.fromkeys((1, 2, 4, 8), 0)
    row = 0
    for channel, (kind, device, point, unit, recipe, width) in enumerate(channels):
        previous: list[int] = []
        last_int = last_key = 0
        for offset in (o for o in order if kinds[o] == channel + 2):
            deltas = by_width[width][used[width]:used[width] + lengths[row]]
            used[width] += lengths[row]
            padded = previous + [0] * max(0, len(deltas) - len(previous))
            if width == 8:
                raw = [before + delta for before, delta in zip(padded, deltas, strict=False)]
            else:
                raw = [(before + delta) % (1 << 8 * width)
                       for before, delta in zip(padded, deltas, strict=False)]
            previous = raw
            mode = modes[row]
            if mode == 0:
                value = recipe_value(recipe, raw)
            elif mode == 1:
                value = None
            elif mode == 2:
                value = last_int = last_int + unzigzag(ints.uvarint())
            elif mode == 3:
                last_key += unzigzag(floats.uvarint())
                value = key_float(last_key)
            else:
                assert mode == 4
                value = string_table[strs.uvarint()]
            data = None if data_refs[row] == 0 else data_table[data_refs[row] - 1]
            fields[offset] = [first_seq + offset, kind, device, point, value, unit,
                              quality_table[qualities[row]], raw, None, None, None, data]
            row += 1
    assert ints.at_end() and floats.at_end() and strs.at_end()
    assert all(used[w] == len(by_width[w]) for w in used)

    records: list[Any] = []
    wall = mono = 0.0
    boot = clock = 0
    leaf_of, verbatim_of = iter(leaves), iter(verbatim)
    for offset, k in enumerate(kinds):
        if k == 0:
            records.append({"tombstone": first_seq + offset, "leaf": next(leaf_of)})
        elif k == 1:
            records.append(next(verbatim_of))
        else:
            new_wall = key_float(float_key(wall) + unzigzag(walls[clock]))
            mono = key_float(float_key(mono + (new_wall - wall)) + unzigzag(monos[clock]))
            wall, boot = new_wall, boot + unzigzag(boots[clock])
            record = fields[offset]
            record[8:11] = [wall, mono, boot]
            records.append(record)
            clock += 1
    assert clock == len(walls) == len(monos) == len(boots)
    return blocks, records


def canonical(record: list[Any]) -> bytes:
    """docs/store.md: the JSON array of the 12 fields, compact, sorted keys, UTF-8."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, sort_keys=True,
                      allow_nan=False).encode("utf-8")


def blocks_verify(decoded: dict[str, Any], public_key: Any) -> None:
    """Every block signature over the chain heads (docs/store.md), from the header's prev_head."""
    head = bytes.fromhex(decoded["header"]["prev_head"])
    records = {(r["tombstone"] if isinstance(r, dict) else r[0]): r for r in decoded["records"]}
    for block in decoded["blocks"]:
        start = head
        for seq in range(block["first_seq"], block["last_seq"] + 1):
            record = records[seq]
            leaf = (bytes.fromhex(record["leaf"]) if isinstance(record, dict)
                    else hashlib.sha256(canonical(record)).digest())
            head = hashlib.sha256(head + leaf).digest()
        message = (b"wellgate-block-v1" + struct.pack(">QQQ", block["block_no"],
                                                      block["first_seq"], block["last_seq"])
                   + start + head)
        public_key.verify(bytes.fromhex(block["signature"]), message)
    assert head.hex() == decoded["header"]["head"]


def public_key_of(described: dict[str, Any]) -> Any:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(described["key_seed"])).public_key()


@pytest.mark.parametrize("name", NAMES)
def test_the_spec_alone_decodes_each_golden_batch_to_its_records(name):
    described, data = vector(name)
    decoded = independent_decode(data, public_key_of(described))
    assert same(decoded["header"], described["header"])
    assert same(decoded["blocks"], described["blocks"])
    assert len(decoded["records"]) == len(described["records"])
    for got, expected in zip(decoded["records"], described["records"], strict=True):
        assert same(got, expected), (got, expected)
    blocks_verify(decoded, public_key_of(described))


def test_the_small_payload_worked_out_by_hand_is_the_batch_payload():
    described, data = vector("small")
    lines = (VECTORS / "small.payload.txt").read_text(encoding="utf-8").splitlines()
    by_hand = bytes.fromhex(" ".join(line.split("#")[0] for line in lines))
    size = struct.unpack(">H", data[4:6])[0]
    assert zlib.decompress(data[6 + size + 64:]) == by_hand
    assert len(by_hand) == described["header"]["payload_size"]


# === The real codec against the same vectors ======================================================


def codec_inputs(described: dict[str, Any]) -> tuple[list[Any], list[BlockSignature], dict]:
    """The records, blocks and recipes of a vector as gateway.uplink takes them."""
    records = [Tombstone(r["tombstone"], bytes.fromhex(r["leaf"])) if isinstance(r, dict)
               else tuple(r) for r in described["records"]]
    blocks = [BlockSignature(b["block_no"], b["first_seq"], b["last_seq"],
                             bytes.fromhex(b["signature"])) for b in described["blocks"]]
    recipes = {}
    for entry in described["recipes"]:
        recipe = Recipe.from_wire(entry["recipe"])
        if entry.get("decimals_from"):  # the sender's form: decimals found per batch
            recipe = Recipe(recipe.protocol, recipe.type, recipe.order, recipe.scale,
                            recipe.offset, None, recipe.enum, recipe.signed,
                            entry["decimals_from"])
        recipes[(entry["device"], entry["point"])] = recipe
    return records, blocks, recipes


@pytest.mark.parametrize("name", NAMES)
def test_the_encoder_writes_exactly_the_golden_bytes(name):
    described, data = vector(name)
    records, blocks, recipes = codec_inputs(described)
    header = described["header"]
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(described["key_seed"]))
    encoded = wire.encode_batch(key, header["gateway"], header["nonce"], header["sent"], blocks,
                                records, bytes.fromhex(header["prev_head"]),
                                bytes.fromhex(header["head"]), recipes, header["resume"])
    size = struct.unpack(">H", data[4:6])[0]
    payload = zlib.decompress(data[6 + size + 64:])
    assert zlib.decompress(wire.open_envelope(encoded).payload) == payload  # the columns
    assert encoded == data, f"zlib {zlib.ZLIB_RUNTIME_VERSION} compressed otherwise?"


@pytest.mark.parametrize("name", NAMES)
def test_the_decoder_reads_the_golden_bytes_to_their_records(name):
    described, data = vector(name)
    records, blocks, _ = codec_inputs(described)
    envelope = wire.open_envelope(data)
    assert envelope.signature_valid(public_key_of(described))
    batch = wire.decode_envelope(envelope)
    assert batch.header == described["header"]
    assert batch.blocks == blocks
    assert len(batch.records) == len(records)
    for got, expected in zip(batch.records, records, strict=True):
        assert records_equal(got, expected), (got, expected)
