"""The wellgate record chain, version 1: canonical record bytes, hash chain, block signatures.

This module is the specification; the platform receiver imports it (it needs only the standard
library and `cryptography`) and must verify exactly as written here.

Record. Twelve fields, in this order (FIELDS):
    seq        int    gateway-wide sequence number, 1, 2, 3, ... never repeated
    kind       str    "reading", "store_event", "alarm" (later also "volume", "calibration", ...)
    device     str    the configured device name ("store" for the store's own records)
    point      str    the point name (for store records: the event or alarm name)
    value      int | float | str | None
    unit       str
    quality    str    "good", "invalid" or "uncertain"
    raw        list of int (Modbus registers, or DL/T 645 data bytes); [] when there are none
    wall_time  float  time.time() when the value was read
    mono_time  float  time.monotonic() then (meaningful only within one boot)
    boot       int    the store's boot counter: which monotonic clock mono_time belongs to
    data       JSON object or None (readings: {"kind": "instant" | "total" | "status"})

Canonical bytes:
    json.dumps([seq, kind, device, point, value, unit, quality, raw, wall_time, mono_time, boot,
                data], separators=(",", ":"), ensure_ascii=False, sort_keys=True,
               allow_nan=False).encode("utf-8")
    Floats are written by Python's repr (shortest round trip), so every float survives JSON.

Chain:
    leaf_n = sha256(canonical bytes of record n)
    head_n = sha256(head_{n-1} + leaf_n); the head before the very first record is 32 zero bytes.

Block: one committed batch of records first_seq..last_seq (contiguous), numbered block_no 0, 1, ...
    prev_head = the head before first_seq, head = the head after last_seq.
    message   = b"wellgate-block-v1" + struct.pack(">QQQ", block_no, first_seq, last_seq)
                + prev_head + head
    signature = Ed25519(gateway private key, message), 64 bytes.
Blocks chain through their heads: block k's prev_head is block k-1's head.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FIELDS = ("seq", "kind", "device", "point", "value", "unit", "quality", "raw", "wall_time",
          "mono_time", "boot", "data")
ZERO_HEAD = bytes(32)
BLOCK_DOMAIN = b"wellgate-block-v1"
HASH_SIZE = 32
SIGNATURE_SIZE = 64

# One encoder, reused: json.dumps() with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True,
                            allow_nan=False)


def canonical_bytes(fields: Sequence[Any]) -> bytes:
    """The canonical bytes of a record given as its 12 field values in FIELDS order."""
    if len(fields) != len(FIELDS):
        raise ValueError(f"a record has {len(FIELDS)} fields ({', '.join(FIELDS)}); "
                         f"got {len(fields)}")
    return _ENCODER.encode(list(fields)).encode("utf-8")


def leaf_hash(canonical: bytes) -> bytes:
    """sha256 of a record's canonical bytes."""
    return hashlib.sha256(canonical).digest()


def chain_step(head: bytes, leaf: bytes) -> bytes:
    """The head after appending a record with this leaf."""
    return hashlib.sha256(head + leaf).digest()


def block_message(block_no: int, first_seq: int, last_seq: int, prev_head: bytes,
                  head: bytes) -> bytes:
    """The bytes a block's signature covers."""
    if len(prev_head) != HASH_SIZE or len(head) != HASH_SIZE:
        raise ValueError(f"chain heads are {HASH_SIZE} bytes; got {len(prev_head)} and "
                         f"{len(head)}")
    return BLOCK_DOMAIN + struct.pack(">QQQ", block_no, first_seq, last_seq) + prev_head + head


def sign_block(key: Ed25519PrivateKey, block_no: int, first_seq: int, last_seq: int,
               prev_head: bytes, head: bytes) -> bytes:
    """The 64-byte Ed25519 signature of a block."""
    return key.sign(block_message(block_no, first_seq, last_seq, prev_head, head))


def block_signature_valid(public_key: Ed25519PublicKey, block_no: int, first_seq: int,
                          last_seq: int, prev_head: bytes, head: bytes, signature: bytes) -> bool:
    """Whether `signature` is the gateway's signature of this block."""
    try:
        public_key.verify(signature, block_message(block_no, first_seq, last_seq, prev_head, head))
    except (InvalidSignature, ValueError):
        return False
    return True
