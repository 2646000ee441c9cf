"""Interval quantities from successive totaliser readings: rollover, reset, replacement, spikes.

A reading the pump could not have made (a spike, a fall that is no rollover) opens an episode:
one flag, measured from the last trusted reading, whose held amount is updated by the readings
that follow. It closes itself when a reading is plausible from that trusted reading again (a
glitch: nothing held), or settles when the readings go on plausibly from the episode's own
latest reading (its held amount then stands for a person to confirm or reject).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from gateway.readings import QUALITY_INVALID

CLEAN = "clean"  # counted: the total rose by no more than the pump could deliver
ROLLOVER = "rollover"  # counted: the total wrapped at wrap_value (a clean rollover, no flag)
RESET = "reset"  # the total went down without a clean rollover
REPLACEMENT = "replacement"  # an installer recorded a new meter, or its first reading
SPIKE = "spike"  # a rise beyond the pump's capacity: held, not counted
JITTER = "jitter"  # a fall within the register's resolution: noise, the total stands
DUPLICATE = "duplicate"  # same seq, or same time: ignored
OUT_OF_ORDER = "out_of_order"  # older than the last accepted reading: ignored
INVALID = "invalid"  # quality invalid or no number: skipped
FIRST = "first"  # the first reading: a baseline, no delta
KINDS = (CLEAN, JITTER, ROLLOVER, RESET, REPLACEMENT, SPIKE, DUPLICATE, OUT_OF_ORDER, INVALID,
         FIRST)
STATE_VERSION = 1
OPEN, SETTLED, CLOSED = "open", "settled", "closed"  # an episode's flag: changing, final, gone


def wrap_for_register_bits(bits: int, scale: float = 1.0) -> float:
    """The wrap value of an unsigned register of `bits` bits, in the point's unit after scale."""
    if bits <= 0:
        raise ValueError(f"register width must be > 0 bits, got {bits}")
    return float(2**bits) * scale


def wrap_for_display_maximum(maximum: float, resolution: float) -> float:
    """The wrap value of a meter whose largest shown value is `maximum` (e.g. 99,999,999)."""
    if maximum <= 0 or resolution <= 0:
        raise ValueError(f"maximum and resolution must be > 0, got {maximum} and {resolution}")
    return maximum + resolution


@dataclass(frozen=True)
class CounterParams:
    """How one totaliser point counts: where it wraps and how fast the pump can move it."""

    max_rate_per_h: float  # pump capacity in the point's unit per hour (m³/h; kW for a kWh total)
    wrap_value: float | None = None  # where the total returns to 0, point's unit; None = never
    spike_margin: float = 1.5  # a rise above max_rate_per_h × elapsed × this is a spike
    count_resolution: float = 0.0  # one count of the total (point's unit), added to the allowance
    jitter: float = 0.0  # a fall of at most this (point's unit) is noise: the total stands

    def __post_init__(self) -> None:
        if not self.max_rate_per_h > 0:
            raise ValueError(f"max_rate_per_h must be > 0, got {self.max_rate_per_h}")
        if self.wrap_value is not None and not self.wrap_value > 0:
            raise ValueError(f"wrap_value must be > 0 or None, got {self.wrap_value}")
        if not self.spike_margin >= 1:
            raise ValueError(f"spike_margin must be >= 1, got {self.spike_margin}")
        if not self.count_resolution >= 0:
            raise ValueError(f"count_resolution must be >= 0, got {self.count_resolution}")
        if not (math.isfinite(self.jitter) and self.jitter >= 0):
            raise ValueError(f"jitter must be a number >= 0, got {self.jitter}")

    def allowance(self, elapsed_s: float) -> float:
        """The most the total can rise in elapsed_s: capacity × time × margin + one count."""
        return self.max_rate_per_h * max(elapsed_s, 0.0) / 3600.0 * self.spike_margin + (
            self.count_resolution
        )


@dataclass(frozen=True)
class Sample:
    """One totaliser reading as the store holds it."""

    value: float | None
    wall_time: float  # time.time() of the reading
    mono_time: float | None  # time.monotonic(): comparable only within one boot
    boot: str | None  # boot id of the gateway that took it
    seq: int | None  # the store's record number: never reused
    quality: str = "good"


@dataclass(frozen=True)
class Interval:
    """What one reading means for the totals: counted, held for a person, or ignored."""

    kind: str
    delta: float  # counted into totals, >= 0
    held: float  # the amount in question, not counted, for a person to confirm; >= 0
    start_wall: float | None  # wall time of the reading the delta is measured from
    end_wall: float  # wall time of this reading
    value: float | None
    flag: str | None = None  # what a person must confirm; None when nothing needs them
    seq: int | None = None
    episode: int | None = None  # seq of the reading that opened the episode this flag belongs to
    status: str | None = None  # the episode's flag: OPEN (changing), SETTLED, CLOSED (a glitch)
    held_before: float = 0.0  # the episode's held amount before this reading
    episode_kind: str | None = None  # what the episode is: SPIKE or RESET


class TotaliserTracker:
    """Classifies successive readings of one (device, point) totaliser; state fits in a dict."""

    def __init__(self, params: CounterParams, state: dict[str, Any] | None = None) -> None:
        self.params = params
        self._base: Sample | None = None  # the last trusted reading (or the installer's start)
        self._episode: dict[str, Any] | None = None  # id, kind, latest (a Sample), held
        self._replaced = False  # the base is an installer's start reading for a new meter
        if state is not None:
            self._load(state)

    # -- persistence ------------------------------------------------------------------------------
    def _num(self, x: float | None) -> str:
        """A value of this total at its meter's resolution."""
        return _num(x, self.params.count_resolution or self.params.jitter)

    def to_state(self) -> dict[str, Any]:
        """The tracker's state as plain JSON-able values."""
        episode = None
        if self._episode is not None:
            episode = {**self._episode, "latest": asdict(self._episode["latest"])}
        return {"version": STATE_VERSION, "base": asdict(self._base) if self._base else None,
                "episode": episode, "replaced": self._replaced}

    def _load(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            version = state.get("version")
            raise ValueError(f"tracker state version {version!r}, expected {STATE_VERSION}")
        self._base = Sample(**state["base"]) if state["base"] else None
        self._replaced = bool(state["replaced"])
        episode = state.get("episode")
        if episode is not None:
            self._episode = {**episode, "latest": Sample(**episode["latest"])}
        elif state.get("spike") and self._base is not None:  # a checkpoint from before episodes
            spike = Sample(**state["spike"])
            self._episode = {"id": spike.seq, "kind": SPIKE, "latest": spike,
                             "held": max((spike.value or 0.0) - (self._base.value or 0.0), 0.0)}

    # -- installer command ------------------------------------------------------------------------
    def replace(self, new_start: float, at_time: float, old_final: float | None = None) -> Interval:
        """Record a meter replacement: counting restarts from the new meter's start reading."""
        if not (math.isfinite(new_start) and new_start >= 0):
            raise ValueError(f"new meter's start reading must be a number >= 0, got {new_start}")
        base = self._base
        if base is not None and at_time < base.wall_time:
            raise ValueError(
                f"replacement time {at_time} is before the last reading at {base.wall_time}"
            )
        delta, held, gap = 0.0, 0.0, "volume between the last reading and removal is unknown"
        if base is not None and old_final is not None:
            step = old_final - base.value  # type: ignore[operator]
            final = self._num(old_final)
            if 0 <= step <= self.params.allowance(at_time - base.wall_time):
                delta, gap = step, f"counted {self._num(step)} up to the old meter's final {final}"
            else:
                held, gap = abs(step), f"old meter's final reading {final} is implausible, held"
        last = f"last reading {self._num(base.value)}" if base else "no earlier reading"
        self._base = Sample(new_start, at_time, None, None, None)
        self._episode, self._replaced = None, True
        flag = f"meter replaced ({last}); new meter starts at {self._num(new_start)}; {gap}"
        return Interval(
            REPLACEMENT, delta, held, base.wall_time if base else None, at_time, new_start, flag
        )

    # -- readings ---------------------------------------------------------------------------------
    def update(self, sample: Sample) -> Interval:
        """Classify one reading and advance the baseline where it is accepted."""
        value, base = sample.value, self._base
        if sample.quality == QUALITY_INVALID or value is None or not math.isfinite(value):
            flag = f"reading skipped: quality {sample.quality}, value {value!r}"
            return self._result(INVALID, sample, None, flag=flag)
        if base is None:
            self._base = sample
            return self._result(FIRST, sample, None)
        last = self._episode["latest"] if self._episode is not None else base
        elapsed = _elapsed(last, sample)
        if elapsed < 0:
            flag = (f"reading {self._num(value)} is {_seconds(-elapsed)} s older than the last "
                    "one; ignored")
            return self._result(OUT_OF_ORDER, sample, last, flag=flag)
        if (sample.seq is not None and sample.seq == last.seq) or elapsed == 0:
            if value == last.value:
                return self._result(DUPLICATE, sample, last)
            flag = (f"reading {self._num(value)} for the seq/time of {self._num(last.value)}; "
                    "ignored")
            return self._result(DUPLICATE, sample, last, flag=flag)
        if self._replaced:
            return self._after_replacement(sample, base, _elapsed(base, sample))
        if self._episode is not None:
            return self._in_episode(sample, base, self._episode)
        step = self._step(base, sample)
        if step is not None:
            return self._accept(step[0], sample, base, step[1])
        return self._open(sample, base)

    def _step(self, old: Sample, sample: Sample) -> tuple[str, float] | None:
        """(kind, counted) if the total could have gone from `old` to `sample`, else None."""
        value, before = sample.value, old.value
        assert value is not None and before is not None
        allowance, rise = self.params.allowance(_elapsed(old, sample)), value - before
        if 0 <= rise <= allowance:
            return CLEAN, rise
        if -rise <= self.params.jitter + 1e-9 * max(abs(before), 1.0) and rise < 0:
            return JITTER, 0.0  # (the slack: a decimal resolution in binary floats)
        wrap = self.params.wrap_value
        if wrap is not None and rise < 0 and 0 <= wrap - before + value <= allowance:
            return ROLLOVER, wrap - before + value  # (after a gap too: what the time allows)
        return None

    def _hypothesis(self, sample: Sample, base: Sample) -> tuple[str, float, str]:
        """(kind, held, text) of a reading the pump could not have made from the base."""
        value, old = sample.value, base.value
        assert value is not None and old is not None
        elapsed = _elapsed(base, sample)
        allowance = self.params.allowance(elapsed)
        if value > old:
            return SPIKE, value - old, (
                f"rise {self._num(value - old)} in {_seconds(elapsed)} s from {self._num(old)} "
                f"is more than the pump's {self._num(allowance)}; held, not counted")
        fell = f"total fell from {self._num(old)} to {self._num(value)}"
        if value <= allowance:  # what the meter counted since a reset to zero
            return RESET, value, (f"{fell}: meter reset? it counted {self._num(value)} since; "
                                  "held, confirm to count it")
        return RESET, 0.0, (f"{fell}, neither near zero nor a rollover (reset, unrecorded "
                            f"replacement or tampering?); nothing held, counting continues "
                            f"from {self._num(value)} once the readings go on from it")

    def _open(self, sample: Sample, base: Sample) -> Interval:
        kind, held, flag = self._hypothesis(sample, base)
        self._episode = {"id": sample.seq, "kind": kind, "latest": sample, "held": held}
        return self._result(kind, sample, base, held=held, flag=flag, status=OPEN,
                            episode=self._episode)

    def _in_episode(self, sample: Sample, base: Sample, episode: dict[str, Any]) -> Interval:
        latest, before = episode["latest"], episode["held"]
        step = self._step(base, sample)
        if step is not None:  # back on the trusted track: the episode was a glitch
            flag = (f"back on the track from {self._num(base.value)}: the reading "
                    f"{self._num(latest.value)} was a glitch; nothing held")
            return self._accept(step[0], sample, base, step[1], flag=flag, status=CLOSED,
                                episode=episode, held_before=before)
        step = self._step(latest, sample)
        if step is not None:  # the readings go on from the episode's own latest reading
            flag = (f"readings go on from {self._num(latest.value)}: {self._num(before)} held "
                    f"since {self._num(base.value)} stands; confirm or reject")
            return self._accept(step[0], sample, latest, step[1], held=before, flag=flag,
                                status=SETTLED, episode=episode, held_before=before)
        kind, held, flag = self._hypothesis(sample, base)
        changed = kind != episode["kind"] or held != before
        episode.update(kind=kind, latest=sample, held=held)
        return self._result(kind, sample, base, held=held, flag=flag if changed else None,
                            status=OPEN, episode=episode, held_before=before)

    def _after_replacement(self, sample: Sample, base: Sample, elapsed: float) -> Interval:
        value, start = sample.value, base.value
        assert value is not None and start is not None
        rise, allowance = value - start, self.params.allowance(elapsed)
        if 0 <= rise <= allowance:
            flag = (f"new meter's first reading: counted {self._num(rise)} from its start "
                    f"{self._num(start)}")
            return self._accept(REPLACEMENT, sample, base, rise, flag=flag)
        if rise < 0:
            flag = (
                f"new meter reads {self._num(value)}, below its recorded start {self._num(start)}: "
                f"start reading wrong? nothing counted, counting continues from {self._num(value)}"
            )
            return self._accept(REPLACEMENT, sample, base, 0.0, flag=flag)
        flag = (
            f"new meter reads {self._num(value)}, {self._num(rise)} above its start "
            f"{self._num(start)}, more than the pump's {self._num(allowance)}: held"
        )
        return self._accept(REPLACEMENT, sample, base, 0.0, held=rise, flag=flag)

    # -- helpers ----------------------------------------------------------------------------------
    def _accept(self, kind: str, sample: Sample, base: Sample, delta: float,
                held: float = 0.0, flag: str | None = None, status: str | None = None,
                episode: dict[str, Any] | None = None, held_before: float = 0.0) -> Interval:
        """Move the baseline to this reading (jitter: the total stands, as of this reading)."""
        if kind == JITTER:
            sample = replace(sample, value=base.value)
        self._base, self._episode, self._replaced = sample, None, False
        return self._result(kind, sample, base, delta=delta, held=held, flag=flag, status=status,
                            episode=episode, held_before=held_before)

    @staticmethod
    def _result(kind: str, sample: Sample, base: Sample | None, delta: float = 0.0,
                held: float = 0.0, flag: str | None = None, status: str | None = None,
                episode: dict[str, Any] | None = None, held_before: float = 0.0) -> Interval:
        start = base.wall_time if base is not None else None
        return Interval(kind, max(delta, 0.0), max(held, 0.0), start, sample.wall_time,
                        sample.value, flag, sample.seq, episode["id"] if episode else None,
                        status, held_before, episode["kind"] if episode else None)


def _elapsed(earlier: Sample, later: Sample) -> float:
    """Seconds between two readings: monotonic within one boot, wall clock across boots."""
    same_boot = earlier.boot is not None and earlier.boot == later.boot
    if same_boot and earlier.mono_time is not None and later.mono_time is not None:
        return later.mono_time - earlier.mono_time
    return later.wall_time - earlier.wall_time


def _num(x: float | None, resolution: float = 0.0) -> str:
    """A number for a person: at the meter's resolution (one count, or the jitter a float total
    is allowed) when known, else up to 10 significant digits; never exponent form."""
    if x is None:
        return "none"
    if resolution > 0:
        return f"{x:.{max(0, math.ceil(-math.log10(resolution) - 1e-9))}f}"
    return f"{x:.10g}"


def _seconds(x: float) -> str:
    return f"{x:.0f}"
