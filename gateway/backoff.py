"""Exponential back-off: each delay `factor` times the last, from `initial` up to `maximum`.

    backoff = Backoff(initial=1.0, maximum=30.0)   # the store's commit retries
    backoff.next()                                 # 1, 2, 4, 8, 16, 30, 30, ...
    backoff.reset()                                # after a success: `initial` again next time

With `jitter` (0..1) each wait is drawn from [delay * (1 - jitter), delay], so that callers that
failed together do not all try again together. next_delay() is the same step for a caller that
keeps the delay itself (one per polled device).
"""

from __future__ import annotations

import random


def next_delay(delay: float, initial: float, maximum: float, factor: float = 2.0) -> float:
    """The delay after `delay` (0: the first failure since a success): `initial`, then `factor`
    times the last, never above `maximum`."""
    return min(maximum, max(initial, delay * factor))


class Backoff:
    """The delays of one retry loop: next() after each failure, reset() after a success."""

    def __init__(self, initial: float, maximum: float, factor: float = 2.0,
                 jitter: float = 0.0, rng: random.Random | None = None) -> None:
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"jitter is a fraction of the delay, from 0 to 1; got {jitter}")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.rng = rng or random.Random()
        self.delay = 0.0  # the last delay without jitter; 0 until a failure after a reset

    def next(self) -> float:
        """The wait before the next try (the delay grown one step, drawn with the jitter)."""
        self.delay = next_delay(self.delay, self.initial, self.maximum, self.factor)
        if not self.jitter:
            return self.delay
        return self.rng.uniform(self.delay * (1.0 - self.jitter), self.delay)

    def reset(self) -> None:
        self.delay = 0.0
