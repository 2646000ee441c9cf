"""State changes logged without flooding: the first at once, then at most a summary a period.

A meter that answers one poll in two, or an uplink whose link comes and goes, changes state
every few seconds; a line per change would bury everything else in the journal. FlapLog logs a
subject's change when it is the first for a while; the changes that follow within `every`
seconds are counted, and one summary line per `every` says how many there were, by state, and
where the subject is now. A subject quiet for a whole period is logged at once again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Window:
    until: float  # monotonic: the end of the current period
    states: Counter = field(default_factory=Counter)  # changes held back, by state
    last: str = ""  # the newest change held back, as it would have been logged
    level: int = logging.INFO
    extra: dict[str, Any] | None = None  # the structured fields of the newest change


class FlapLog:
    """Per subject: log a change, or count it and summarise it once a period (`flush()`)."""

    def __init__(self, logger: logging.Logger, every: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.every = every
        self.clock = clock
        self._windows: dict[str, _Window] = {}

    def change(self, subject: str, state: str, level: int, message: str, *args: Any,
               extra: dict[str, Any] | None = None) -> bool:
        """A state change of `subject`: logged now (True) or counted for the summary."""
        now = self.clock()
        self.flush(now)
        window = self._windows.get(subject)
        if window is None:
            self._windows[subject] = _Window(now + self.every)
            self.logger.log(level, message, *args, extra=extra)
            return True
        window.states[state] += 1
        window.last = message % args if args else message
        window.level = max(window.level, level)
        window.extra = extra
        return False

    def flush(self, now: float | None = None) -> None:
        """Log the summary of every subject whose period has ended with changes held back."""
        now = self.clock() if now is None else now
        for subject, window in list(self._windows.items()):
            if now < window.until:
                continue
            if not window.states:
                del self._windows[subject]  # quiet for a period: the next change is logged
                continue
            count = sum(window.states.values())
            by_state = ", ".join(f"{state} {n} time(s)" for state, n in
                                 sorted(window.states.items()))
            self.logger.log(window.level, "%s: %d more state change(s) in the last %g s (%s); "
                            "the latest: %s", subject, count, self.every, by_state, window.last,
                            extra=window.extra)
            self._windows[subject] = _Window(now + self.every)
