"""One destination's delivery loop: read after the cursor, batch, send, advance on the ack only.

    cursor = the destination's acked seq in the store (gateway/store/cursors.py; 0 when new)
    loop: whole blocks after the cursor, up to batch_max_records / batch_max_kb
          wait while the batch is not full and its oldest record is younger than batch_max_age
          seal with a fresh nonce, send, and on the ack:
            stored / duplicate  -> cursor = acked_seq (at most what the store holds), recorded
                                   in the store; next batch at once
            rejected, fork      -> the receiver holds other records under seqs this store
                                   signed again (it was cut back and rewritten): the cursor
                                   stays, state "fork" with the seq and the receiver's reason,
                                   logged once per fork; back off and keep backing off (a
                                   fork does not heal by itself: a person must look)
            rejected, 409       -> the receiver holds up to acked_seq: continue from there
                                   (resume, with a gap, if the store no longer has that)
            rejected, other     -> log it, back off (the operator must act: registry, key)
          on TransportError       -> back off: delay doubles from backoff_initial to
                                   backoff_max, each wait drawn from [delay/2, delay]
Store reads and encoding run in a worker thread (asyncio.to_thread), never on the event loop
that polls the meters; the next batch is prepared while the current one is in flight. A batch is
encoded only once it is due: while it waits for its age, the engine looks only at the store's
newest seq (a full batch goes at once), wakes when the oldest record comes of age, and reads and
encodes it then, once (before, the growing batch was read and encoded again every second).
stop() ends the loop at once: a send in flight gets STOP_GRACE seconds for its ack (or the
grace given), then it is cancelled (its records go again next time; the receiver de-duplicates
by seq), and closing the transport may take CLOSE_TIMEOUT seconds, so `wellgate run` stops in
time whatever the network does.
drain() is the last chance before a planned stop, once the store has committed everything: every
batch is due at once (batch_max_age no longer waits), a send in flight goes on, and the loop
ends by itself when a batch read after drain() finds nothing after the cursor (all delivered)
or when an attempt fails (unreachable: the cursor stays, the rest goes next start); one still
waiting for its first answer since the start ends at once. The caller bounds it with stop().
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.backoff import Backoff
from gateway.batchwork import batch_gc
from gateway.flaplog import FlapLog
from gateway.store.cursors import record_delivery
from gateway.uplink import wire
from gateway.uplink.nonce import NonceSource
from gateway.uplink.outbox import Chunk, Outbox, OutboxError
from gateway.uplink.payload import encode_payload
from gateway.uplink.recipes import Recipe
from gateway.uplink.transport import AckMessage, Transport, TransportError

log = logging.getLogger(__name__)

IDLE_POLL = 1.0  # seconds between looks at the store when everything is delivered
FIRST_ESTIMATE = 16  # bytes per record on the wire assumed before the first batch
STOP_GRACE = 1.0  # s a batch in flight at stop() may still take to be acknowledged
CLOSE_TIMEOUT = 1.0  # s closing the transport may take on the way out


@dataclass
class Limits:
    max_records: int = 50_000
    max_bytes: int = 512 * 1024
    max_age: float = 60.0
    backoff_initial: float = 2.0
    backoff_max: float = 300.0


@dataclass
class UplinkStatus:
    """What `wellgate status` shows of a running destination (besides the store's backlog)."""

    name: str
    acked_seq: int = 0
    state: str = "starting"  # starting | idle | waiting | sending | backing off | fork | stopped
    last_success: float | None = None  # wall time of the last ack that stored or confirmed
    last_error: str = ""
    last_error_wall: float | None = None
    batches: int = 0  # answered by the receiver
    failures: int = 0  # attempts that ended in a transport or store error, or a rejection
    records: int = 0
    bytes_sent: int = 0
    next_attempt_in: float | None = None
    # While the receiver refuses a fork: {"seq": first differing seq or None, "reason": the
    # receiver's, "since": wall time}; None again after the next ack that stores or confirms.
    fork: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _NotDue:
    """A batch that waits for its age: what decides when it is due, nothing encoded."""

    after: int  # the cursor it was read after
    records: int
    oldest_wall: float | None


@dataclass
class _Sealed:
    chunk: Chunk
    payload: bytes  # compressed columns, sealed anew (fresh nonce) for every attempt
    raw_size: int
    resume: bool


class UplinkEngine:
    def __init__(self, name: str, transport: Transport, outbox: Outbox, db_path: Path,
                 key: Ed25519PrivateKey, gateway_id: str, nonces: NonceSource,
                 recipes: dict[tuple[str, str], Recipe] | None = None,
                 limits: Limits | None = None, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        self.name = name
        self.transport = transport
        self.outbox = outbox
        self.db_path = Path(db_path)
        self.key = key
        self.gateway_id = gateway_id
        self.nonces = nonces
        self.recipes = recipes or {}
        self.limits = limits or Limits()
        self.clock = clock
        self.rng = rng or random.Random()
        self.status = UplinkStatus(name)
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()  # cuts a wait short: stop() or drain()
        self._drain_asked = False
        self._grace = STOP_GRACE
        self._bytes_per_record = float(FIRST_ESTIMATE)
        self._backoff = Backoff(self.limits.backoff_initial, self.limits.backoff_max,
                                jitter=0.5, rng=self.rng)
        self._resume = False
        self.flaps = FlapLog(log)  # failing and delivering again: logged, or summarised
        self._delivering = True  # as far as the log has said

    def stop(self, grace: float = STOP_GRACE) -> None:
        """End the loop; a send in flight gets `grace` seconds for its ack."""
        self._grace = min(self._grace, grace) if self._stopping.is_set() else grace
        self._stopping.set()
        self._wake.set()

    def drain(self) -> None:
        """Send what the store holds after the cursor now, then end (see the module's doc). A
        send in flight to a destination that has not answered once since the start (a black
        hole, a link that never came up) is not waited for: the engine ends at once."""
        self._drain_asked = True
        self._wake.set()
        if self.status.state == "sending" and self.status.batches == 0:
            self.stop(grace=0.0)

    async def run(self) -> None:
        """Deliver until stop(); never raises for a delivery problem (it is logged and shown in
        status); the transport is closed on the way out."""
        try:
            cursor = await asyncio.to_thread(self.outbox.acked_seq, self.name)
            self.status.acked_seq = cursor
            next_batch: asyncio.Task[_Sealed | _NotDue | None] | None = None
            waiting_since: float | None = None
            waiting: _NotDue | None = None  # the batch found not due at the last look
            draining = False
            while not self._stopping.is_set():
                if self._drain_asked and not draining:
                    draining = True  # a batch prepared before drain() may miss the last commits
                    next_batch = await _cancelled(next_batch)
                if draining and not self._delivering:
                    log.info("uplink %s: not reachable at stop; acked seq %d stays, the rest "
                             "goes next start", self.name, cursor, extra={"uplink": self.name})
                    break
                try:
                    if next_batch is None:
                        next_batch = asyncio.create_task(asyncio.to_thread(
                            self._prepare, cursor, self._resume, draining, waiting,
                            waiting_since))
                    sealed = await next_batch
                    next_batch = None
                except OutboxError as exc:
                    next_batch = None
                    self._failed(f"store: {exc}")
                    await self._back_off()
                    continue
                if draining and sealed is None:
                    break  # everything the store committed is acknowledged
                if not isinstance(sealed, _Sealed):
                    waiting = sealed
                    if sealed is not None and waiting_since is None:
                        waiting_since = time.monotonic()
                    self._show("idle" if sealed is None else "waiting")
                    await self._sleep(self._until_due(sealed, waiting_since))
                    continue
                waiting_since = waiting = None
                chunk = sealed.chunk
                # Prepare the batch after this one while this one travels (assuming its ack).
                next_batch = asyncio.create_task(asyncio.to_thread(
                    self._prepare, chunk.last_seq, False, draining))
                ack = await self._send(sealed)
                if ack is None:
                    next_batch = await _cancelled(next_batch)
                    await self._back_off()
                    continue
                new_cursor = self._after_ack(ack, sealed)
                if new_cursor is None:
                    next_batch = await _cancelled(next_batch)
                    await self._back_off()
                    continue
                if new_cursor != chunk.last_seq:
                    next_batch = await _cancelled(next_batch)
                if new_cursor != cursor:
                    await asyncio.to_thread(record_delivery, self.db_path, self.name, new_cursor)
                cursor = self.status.acked_seq = new_cursor
            if next_batch is not None:
                await _cancelled(next_batch)
        finally:
            self.status.state = "stopped"
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.transport.close(), CLOSE_TIMEOUT)

    # --- steps -----------------------------------------------------------------------------------

    def _prepare(self, cursor: int, resume: bool, force: bool = False,
                 waiting: _NotDue | None = None,
                 waiting_since: float | None = None) -> _Sealed | _NotDue | None:
        """(worker thread) The next batch after `cursor`: read, then encode and compress when
        it is due (or `force`d: drain); else a _NotDue. With `waiting`, the batch found not due
        after this cursor before, only the store's newest seq is looked at while it stays so."""
        backlog = 0  # records after the cursor, as a look at the newest seq found
        if waiting is not None and waiting.after == cursor and not (force or resume):
            backlog = self.outbox.newest_seq() - cursor
            if 0 < backlog < self.limits.max_records and not self._due(
                    backlog, waiting.oldest_wall, False, waiting_since):
                return _NotDue(cursor, backlog, waiting.oldest_wall)
        limit = max(1, min(self.limits.max_records,
                           int(self.limits.max_bytes / self._bytes_per_record)))
        while True:
            with batch_gc():  # tens of thousands of records, no cycles
                sealed = self._read_and_encode(cursor, limit, resume,
                                               force or backlog >= self.limits.max_records,
                                               waiting_since)
            if not isinstance(sealed, int):
                return sealed
            limit = sealed

    def _read_and_encode(self, cursor: int, limit: int, resume: bool, force: bool,
                         waiting_since: float | None) -> _Sealed | _NotDue | int | None:
        """The batch after `cursor` of up to `limit` records, or a smaller limit to try when the
        compressed batch is over max_bytes, or None when there is nothing after `cursor`, or a
        _NotDue (not encoded) when it is not due and not forced."""
        chunk = self.outbox.read(cursor, limit)
        if chunk is None:
            return None
        if chunk.first_seq > cursor + 1:
            resume = True  # the store no longer holds what comes after the cursor
        if not force and not self._due(len(chunk.records), chunk.oldest_wall, resume,
                                       waiting_since):
            return _NotDue(cursor, len(chunk.records), chunk.oldest_wall)
        raw = encode_payload(chunk.blocks, chunk.records, self.recipes)
        payload = wire.compress(raw)
        self._bytes_per_record = max(1.0, len(payload) / len(chunk.records))
        if len(payload) <= self.limits.max_bytes or len(chunk.blocks) == 1:
            return _Sealed(chunk, payload, len(raw), resume)
        return max(1, len(chunk.records) // 2)

    def _due(self, records: int, oldest_wall: float | None, resume: bool,
             waiting_since: float | None) -> bool:
        """A full batch goes at once; a small one once its oldest record is max_age old (by
        the age the records had when first seen, then the monotonic clock)."""
        if records >= self.limits.max_records or resume or self.limits.max_age == 0:
            return True
        return self._until_due(_NotDue(0, records, oldest_wall), waiting_since) <= 0

    def _until_due(self, waiting: _NotDue | None, waiting_since: float | None) -> float:
        """Seconds until a waiting batch is due by its age (IDLE_POLL at most: a look at the
        store's newest seq then, as the batch may have filled up; IDLE_POLL with nothing)."""
        if waiting is None:
            return IDLE_POLL
        oldest = waiting.oldest_wall
        age = self.clock() - oldest if oldest is not None else self.limits.max_age
        waited = time.monotonic() - waiting_since if waiting_since is not None else 0.0
        return min(IDLE_POLL, self.limits.max_age - max(age, waited))

    async def _send(self, sealed: _Sealed) -> AckMessage | None:
        chunk = sealed.chunk
        nonce = self.nonces.next()
        data = wire.seal(self.key, self.gateway_id, nonce, self.clock(), chunk.blocks,
                         chunk.prev_head, chunk.head, sealed.payload, sealed.raw_size,
                         sealed.resume)
        self._show("sending")
        self.status.next_attempt_in = None
        sending = asyncio.ensure_future(
            self.transport.send(data, nonce, (chunk.first_seq, chunk.last_seq)))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({sending, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not sending.done() and self._grace > 0:  # stop(): a moment for the ack
                await asyncio.wait({sending}, timeout=self._grace)
            if not sending.done():
                return None
            ack = sending.result()
        except TransportError as exc:
            self._failed(str(exc))
            return None
        finally:
            stopping.cancel()
            if not sending.done():
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError, TransportError):
                    await sending
        self.status.batches += 1
        self.status.bytes_sent += len(data)
        return ack

    def _after_ack(self, ack: AckMessage, sealed: _Sealed) -> int | None:
        """The new cursor, or None to back off and try the same again."""
        chunk = sealed.chunk
        if ack.status in ("stored", "duplicate"):
            if ack.acked_seq is None or ack.acked_seq < chunk.first_seq - 1:
                self._failed(f"the receiver acknowledged seq {ack.acked_seq} for a batch of "
                             f"seq {chunk.first_seq}..{chunk.last_seq}")
                return None
            self._backoff.reset()
            self._resume = False
            if not self._delivering:
                self._delivering = True
                self.flaps.change(f"uplink {self.name}", "delivering", logging.INFO,
                                  "uplink %s: delivering again (acked seq %s)", self.name,
                                  ack.acked_seq, extra={"uplink": self.name})
            if self.status.fork is not None:
                log.warning("uplink %s: the receiver takes this gateway's batches again (the "
                            "fork at seq %s was resolved)", self.name, self.status.fork["seq"],
                            extra={"uplink": self.name})
                self.status.fork = None
            self.status.last_success = self.clock()
            self.status.records += ack.stored
            # Never past what was sent: an ack only confirms records this gateway gave it.
            return min(ack.acked_seq, chunk.last_seq)
        # Rejected.
        if ack.last_nonce is not None:
            self.nonces.skip_past(ack.last_nonce)
        if ack.kind == "fork":
            self._forked(ack)
            return None
        if ack.code == 409 and ack.acked_seq is not None and ack.acked_seq > chunk.last_seq:
            self._failed(f"the receiver claims seq {ack.acked_seq} for a batch of seq "
                         f"{chunk.first_seq}..{chunk.last_seq}: more than was sent; ignored")
            return None
        if ack.code == 409 and ack.acked_seq is not None and ack.acked_seq != chunk.first_seq - 1:
            log.warning("uplink %s: %s; continuing after seq %d, as the receiver holds",
                        self.name, ack.reason, ack.acked_seq, extra={"uplink": self.name})
            self._resume = False
            return ack.acked_seq
        self._failed(f"rejected (HTTP {ack.code}): {ack.reason}")
        return None

    def _forked(self, ack: AckMessage) -> None:
        """The receiver refused a fork: shown in status, logged when it starts or changes."""
        where = f"seq {ack.fork_seq}" if ack.fork_seq is not None else "an unnamed seq"
        known = self.status.fork
        if known is None or known["seq"] != ack.fork_seq:
            log.error("uplink %s: FORK at %s: the receiver holds other records under seqs this "
                      "gateway has signed again (its store was cut back and rewritten?); the "
                      "cursor stays at %d and sending backs off until a person looks. The "
                      "receiver says: %s", self.name, where, self.status.acked_seq, ack.reason,
                      extra={"uplink": self.name})
            known = {"seq": ack.fork_seq, "since": self.clock()}
        self.status.fork = {**known, "reason": ack.reason}
        self._failed(f"fork at {where}: {ack.reason}", quiet=True)

    # --- waiting ---------------------------------------------------------------------------------

    def _show(self, state: str) -> None:
        """The state `wellgate status` shows: "fork" for as long as the receiver refuses one."""
        self.status.state = state if self.status.fork is None else "fork"

    def _failed(self, reason: str, quiet: bool = False) -> None:
        if (reason != self.status.last_error or self._delivering) and not quiet:
            self.flaps.change(f"uplink {self.name}", "failing", logging.WARNING, "uplink %s: %s",
                              self.name, reason, extra={"uplink": self.name})
        self._delivering = False
        self.status.last_error = reason
        self.status.last_error_wall = self.clock()
        self.status.failures += 1

    async def _back_off(self) -> None:
        self.flaps.flush()
        wait = self._backoff.next()
        self._show("backing off")
        self.status.next_attempt_in = wait
        await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)


async def _cancelled(task: asyncio.Task | None) -> None:
    """Drop a prepared batch that is no longer the next one (its thread finishes on its own)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, OutboxError):
            await task
    return None
