"""The uplink wire format v1's envelope: magic, signed JSON header and zlib framing of a payload.

docs/wire-format.md is the full description; in short:

  batch    = b"WGB1" + u16 header length (big-endian) + header + 64-byte signature + payload
  header   = compact JSON (sorted keys) of: v (1), gateway, nonce, sent, first_seq, last_seq,
             first_block, blocks, prev_head, head (hex), resume (bool), compression ("zlib"),
             payload_size (bytes after decompression), payload_sha256 (hex, of the payload as sent)
  signature = Ed25519(gateway key, b"wellgate-batch-v1" + header): the envelope. It binds the
             payload (by its hash) and a nonce that only grows, so a copy of an old batch is
             recognised as a replay; the records themselves are proven by the store's block
             signatures (gateway/store/chain.py), which the payload carries.
  payload  = zlib(columns): gateway/uplink/payload.py and docs/wire-format.md.

A batch holds whole blocks only: the receiver chains the records' leaves from the header's
prev_head, computing every block's head, and the last block's head must carry its signature
(through the chain it proves every record; docs/platform.md, "One signature per batch").
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.store import chain
from gateway.uplink.columns import WireError
from gateway.uplink.payload import (
    COMPACT_JSON,
    MAX_INT64,
    BlockSignature,
    PayloadColumns,
    Record,
    encode_payload,
    payload_records,
    read_payload,
)
from gateway.uplink.recipes import Recipe

VERSION = 1
MAGIC = b"WGB1"
BATCH_DOMAIN = b"wellgate-batch-v1"
CONTENT_TYPE = "application/vnd.wellgate.batch-v1"
COMPRESSION = "zlib"
ZLIB_LEVEL = 6
MAX_PAYLOAD = 256 * 1024 * 1024  # the receiver decompresses no more than this (and than stated)
MAX_HEADER = 4096


@dataclass
class Batch:
    """What one wire batch says, decoded (header fields and content)."""

    gateway: str
    nonce: int
    sent: float
    prev_head: bytes
    head: bytes
    blocks: list[BlockSignature]
    records: list[Record]
    resume: bool = False
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def first_seq(self) -> int:
        return self.blocks[0].first_seq

    @property
    def last_seq(self) -> int:
        return self.blocks[-1].last_seq



def encode_batch(key: Ed25519PrivateKey, gateway: str, nonce: int, sent: float,
                 blocks: Sequence[BlockSignature], records: Sequence[Record], prev_head: bytes,
                 head: bytes, recipes: dict[tuple[str, str], Recipe] | None = None,
                 resume: bool = False) -> bytes:
    """The signed wire bytes of whole blocks and their records (in seq order)."""
    if not blocks:
        raise ValueError("a batch holds at least one block; got none")
    raw_payload = encode_payload(blocks, records, recipes or {})
    return seal(key, gateway, nonce, sent, blocks, prev_head, head, compress(raw_payload),
                len(raw_payload), resume)


def compress(raw_payload: bytes) -> bytes:
    return zlib.compress(raw_payload, ZLIB_LEVEL)


def seal(key: Ed25519PrivateKey, gateway: str, nonce: int, sent: float,
         blocks: Sequence[BlockSignature], prev_head: bytes, head: bytes, payload: bytes,
         payload_size: int, resume: bool = False) -> bytes:
    """Header and envelope signature around a compressed payload (a resend is sealed anew with
    a fresh nonce; the payload is reused)."""
    header = {
        "v": VERSION, "gateway": gateway, "nonce": nonce, "sent": sent,
        "first_seq": blocks[0].first_seq, "last_seq": blocks[-1].last_seq,
        "first_block": blocks[0].block_no, "blocks": len(blocks),
        "prev_head": prev_head.hex(), "head": head.hex(), "resume": resume,
        "compression": COMPRESSION, "payload_size": payload_size,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
    }
    header_bytes = COMPACT_JSON.encode(header).encode("utf-8")
    signature = key.sign(BATCH_DOMAIN + header_bytes)
    return MAGIC + struct.pack(">H", len(header_bytes)) + header_bytes + signature + payload


@dataclass(frozen=True)
class Envelope:
    """A batch split into its parts, nothing checked yet but the framing."""

    header: dict[str, Any]
    header_bytes: bytes
    signature: bytes
    payload: bytes

    @property
    def gateway(self) -> str:
        return str(self.header.get("gateway", ""))

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(self.signature, BATCH_DOMAIN + self.header_bytes)
        except (InvalidSignature, ValueError):
            return False
        return True


_HEADER_TYPES: dict[str, Any] = {
    "v": int, "gateway": str, "nonce": int, "sent": (int, float), "first_seq": int,
    "last_seq": int, "first_block": int, "blocks": int, "prev_head": str, "head": str,
    "resume": bool, "compression": str, "payload_size": int, "payload_sha256": str,
}


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number a batch header holds")


def _finite_time(value: float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer of hundreds of digits
        return False


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def open_envelope(data: bytes) -> Envelope:
    """Split wire bytes into header, signature and payload; WireError if they are not a batch."""
    if len(data) < 6 or data[:4] != MAGIC:
        raise WireError(f"not a wellgate batch: it starts {data[:4]!r}, expected {MAGIC!r}")
    (size,) = struct.unpack(">H", data[4:6])
    if size > MAX_HEADER or len(data) < 6 + size + chain.SIGNATURE_SIZE:
        raise WireError(f"batch header of {size} bytes in a batch of {len(data)} bytes: "
                        "truncated or not a batch")
    header_bytes = data[6:6 + size]
    try:
        header = json.loads(header_bytes, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, NaN, nesting too deep
        raise WireError(f"batch header is not JSON: {type(exc).__name__}: {exc}") from None
    if not isinstance(header, dict):
        raise WireError("batch header is not a JSON object")
    if header.get("v") != VERSION:
        raise WireError(f"wire format version {header.get('v')!r}; this receiver reads {VERSION}")
    for name, kind in _HEADER_TYPES.items():
        value = header.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise WireError(f"batch header field {name!r} is {_short(value)}; expected "
                            f"{getattr(kind, '__name__', 'a number')}")
        if name == "sent" and not _finite_time(value):
            raise WireError(f"batch header field 'sent' is {_short(value)}; expected a finite "
                            "Unix time")
        if kind is int and not 0 <= value <= MAX_INT64:
            raise WireError(f"batch header field {name!r} is {_short(value)}; expected "
                            f"0..{MAX_INT64}")
    signature = data[6 + size:6 + size + chain.SIGNATURE_SIZE]
    return Envelope(header, header_bytes, signature, data[6 + size + chain.SIGNATURE_SIZE:])


def decode_envelope(envelope: Envelope) -> Batch:
    """The batch inside an envelope whose signature was checked; WireError if malformed."""
    columns = read_envelope(envelope)
    return envelope_batch(envelope, columns, payload_records(columns))


def read_envelope(envelope: Envelope) -> PayloadColumns:
    """The payload's tables and columns (gateway/uplink/payload_read.py), checked against the
    header, records not made yet (payload_records(), envelope_batch()); WireError if malformed."""
    header = envelope.header
    if hashlib.sha256(envelope.payload).hexdigest() != header["payload_sha256"]:
        raise WireError("payload does not match the header's payload_sha256: altered in transit")
    if header["compression"] != COMPRESSION:
        raise WireError(f"compression {header['compression']!r}; expected {COMPRESSION!r}")
    size = header["payload_size"]
    if not 0 < size <= MAX_PAYLOAD:
        raise WireError(f"payload_size {size}; expected 1..{MAX_PAYLOAD}")
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(envelope.payload, size)
    except zlib.error as exc:
        raise WireError(f"payload does not decompress: {exc}") from None
    if len(raw) != size or inflater.unconsumed_tail or not inflater.eof:
        raise WireError(f"payload decompresses to other than the {size} bytes its header states")
    _heads(header)
    columns = read_payload(raw, header["first_seq"], header["first_block"])
    blocks = columns.blocks
    if (len(blocks) != header["blocks"] or blocks[-1].last_seq != header["last_seq"]):
        raise WireError(f"payload holds blocks {blocks[0].block_no}..{blocks[-1].block_no} (seq "
                        f"{blocks[0].first_seq}..{blocks[-1].last_seq}); the header says "
                        f"{header['blocks']} blocks to seq {header['last_seq']}")
    return columns


def envelope_batch(envelope: Envelope, columns: PayloadColumns,
                   records: Sequence[Record]) -> Batch:
    """The Batch of read_envelope()'s columns, with their records (made or to be made)."""
    header = envelope.header
    prev_head, head = _heads(header)
    return Batch(header["gateway"], header["nonce"], float(header["sent"]), prev_head, head,
                 columns.blocks, records, header["resume"], header)  # type: ignore[arg-type]


def _heads(header: dict[str, Any]) -> tuple[bytes, bytes]:
    try:
        prev_head, head = bytes.fromhex(header["prev_head"]), bytes.fromhex(header["head"])
    except ValueError:
        raise WireError("prev_head and head are 64 hex digits each") from None
    if len(prev_head) != chain.HASH_SIZE or len(head) != chain.HASH_SIZE:
        raise WireError("prev_head and head are 32 bytes each")
    return prev_head, head
