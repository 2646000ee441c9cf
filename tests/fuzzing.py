"""A seeded mutation fuzzer: valid inputs damaged the ways a bus, a network or an attacker would.

Deterministic for a seed, so a failure names the seed and the case number that reproduce it. The
number of cases per target is `cases(normal, torture)`: the normal run's count, or with --torture
(and WELLGATE_FUZZ_CASES for a one-off) the long run's.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Sequence

NORMAL_CASES = 10_000
TORTURE_CASES = 1_000_000


def cases(torture: bool, normal: int = NORMAL_CASES, long: int = TORTURE_CASES) -> int:
    """How many inputs a fuzz target gets in this run."""
    override = os.environ.get("WELLGATE_FUZZ_CASES")
    if override:
        return int(override)
    return long if torture else normal


def _flip_bit(rng: random.Random, data: bytearray) -> None:
    if data:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def _set_byte(rng: random.Random, data: bytearray) -> None:
    if data:
        data[rng.randrange(len(data))] = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))


def _insert(rng: random.Random, data: bytearray) -> None:
    at = rng.randrange(len(data) + 1)
    data[at:at] = rng.randbytes(rng.randint(1, 8))


def _delete(rng: random.Random, data: bytearray) -> None:
    if data:
        at = rng.randrange(len(data))
        del data[at:at + rng.randint(1, 8)]


def _truncate(rng: random.Random, data: bytearray) -> None:
    del data[rng.randrange(len(data) + 1):]


def _duplicate(rng: random.Random, data: bytearray) -> None:
    if data:
        at = rng.randrange(len(data))
        data[at:at] = data[at:at + rng.randint(1, 16)]


def _random(rng: random.Random, data: bytearray) -> None:
    data[:] = rng.randbytes(rng.randint(0, 2 * len(data) + 8))


def _huge(rng: random.Random, data: bytearray) -> None:
    at = rng.randrange(len(data) + 1)
    data[at:at] = bytes([rng.randrange(256)]) * rng.choice((255, 256, 1024))


MUTATIONS: tuple[Callable[[random.Random, bytearray], None], ...] = (
    _flip_bit, _flip_bit, _set_byte, _set_byte, _insert, _delete, _truncate, _duplicate,
    _random, _huge,
)


def mutants(seeds: Sequence[bytes], count: int, seed: int,
            fix: Callable[[bytearray], bytes] | None = None) -> Iterator[tuple[int, bytes]]:
    """`count` (case number, damaged input) pairs from the valid `seeds`, one to three mutations
    each; `fix`, when given, repairs a checksum in half the cases so damage reaches the parser's
    deeper checks instead of stopping at the CRC."""
    rng = random.Random(seed)
    for case in range(count):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            rng.choice(MUTATIONS)(rng, data)
        yield case, (fix(data) if fix is not None and rng.random() < 0.5 else bytes(data))
