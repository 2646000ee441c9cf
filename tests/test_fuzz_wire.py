"""The wire format's decoders, fed damaged batches, raise only WireError (issue 10, item 14).

Seeds are the golden batches (tests/vectors/wire/). The envelope fuzzer damages whole batches and,
for a share of them, only the header JSON (deep nesting, huge numbers, wrong types: the header is
what a receiver reads before it knows who sent it). The payload fuzzer damages the uncompressed
columns and decodes them at seqs up to 2^64. 10,000 inputs each in the normal run, 10^6 with
--torture. Found this way: 2,000 "[" in a header raised RecursionError; a payload varint decoded
to a seq past 2^63 raised OverflowError further in.
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from pathlib import Path

import pytest
from fuzzing import cases, mutants

from gateway.uplink import wire
from gateway.uplink.columns import WireError
from gateway.uplink.payload import decode_payload

VECTORS = Path(__file__).parent / "vectors" / "wire"
BATCHES = [path.read_bytes() for path in sorted(VECTORS.glob("*.batch"))]
HEADER_VALUES = ("[" * 2000, "{" * 5000, 2**63, 2**64 + 1, -1, -(2**63) - 1, 10**400, 1e308,
                 "x" * 5000, "\ud800", None, [], {}, True, "nan")


def _split(batch: bytes) -> tuple[dict, bytes, bytes]:
    (size,) = struct.unpack(">H", batch[4:6])
    header = json.loads(batch[6:6 + size])
    return header, batch[6 + size:6 + size + 64], batch[6 + size + 64:]


def _join(header_text: str, signature: bytes, payload: bytes) -> bytes:
    header_bytes = header_text.encode("utf-8", "surrogatepass")[:wire.MAX_HEADER]
    return wire.MAGIC + struct.pack(">H", len(header_bytes)) + header_bytes + signature + payload


def header_mutants(count: int, seed: int) -> list[bytes]:
    """Batches whose header JSON alone is damaged (framing, signature and payload intact)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        header, signature, payload = _split(rng.choice(BATCHES))
        key = rng.choice([*header, "extra"])
        value = rng.choice(HEADER_VALUES)
        if isinstance(value, str) and value[:1] in "[{" and rng.random() < 0.5:
            text = value  # the whole header is the nesting
        else:
            header[key] = value
            text = json.dumps(header, allow_nan=True)
        out.append(_join(text, signature, payload))
    return out


def _open_and_decode(data: bytes) -> None:
    envelope = wire.open_envelope(data)
    wire.decode_envelope(envelope)  # signature not checked here: the codec must hold regardless


def test_envelope_decoder_raises_only_wire_error(torture):
    count = cases(torture)
    inputs = [data for _, data in mutants(BATCHES, count // 2, seed=zlib.crc32(b"envelope"))]
    inputs += header_mutants(count - len(inputs), seed=zlib.crc32(b"header"))
    refused = 0
    for case, data in enumerate(inputs):
        try:
            _open_and_decode(data)
        except WireError:
            refused += 1
        except Exception as exc:
            pytest.fail(f"case {case}: {type(exc).__name__}: {str(exc)[:300]} "
                        f"for input {data[:120].hex()}…")
    assert refused > count * 0.9, refused


def _payloads() -> list[tuple[bytes, int, int]]:
    seeds = []
    for batch in BATCHES:
        header, _, payload = _split(batch)
        seeds.append((zlib.decompress(payload), header["first_seq"], header["first_block"]))
    return seeds


def test_payload_decoder_raises_only_wire_error(torture):
    seeds = _payloads()
    rng = random.Random(zlib.crc32(b"payload-seqs"))
    starts = (1, 2**31, 2**62, 2**63 - 1, 2**63, 2**64 - 1)
    refused = 0
    count = cases(torture)
    raws = [raw for raw, _, _ in seeds]
    for case, data in mutants(raws, count, seed=zlib.crc32(b"payload")):
        first_seq = rng.choice(starts) if case % 5 == 0 else seeds[0][1]
        first_block = rng.choice(starts) if case % 7 == 0 else seeds[0][2]
        try:
            decode_payload(data, first_seq, first_block)
        except WireError:
            refused += 1
        except Exception as exc:
            pytest.fail(f"case {case} (first_seq {first_seq}, first_block {first_block}): "
                        f"{type(exc).__name__}: {str(exc)[:300]} for payload {data[:120].hex()}…")
    assert refused > count // 2, refused


def test_a_header_of_2000_brackets_is_a_wire_error():
    _, signature, payload = _split(BATCHES[0])
    with pytest.raises(WireError, match="not JSON"):
        wire.open_envelope(_join("[" * 2000, signature, payload))


@pytest.mark.parametrize("field", ["first_seq", "last_seq", "nonce", "first_block"])
def test_header_numbers_past_63_bits_are_a_wire_error(field):
    header, signature, payload = _split(BATCHES[0])
    header[field] = 2**63
    with pytest.raises(WireError, match=field):
        _open_and_decode(_join(json.dumps(header), signature, payload))


def test_a_payload_at_seqs_past_63_bits_is_a_wire_error():
    header, _, payload = _split(BATCHES[0])
    raw = zlib.decompress(payload)
    with pytest.raises(WireError):
        decode_payload(raw, 2**63 - 2, header["first_block"])
