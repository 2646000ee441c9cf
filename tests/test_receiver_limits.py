"""`wellgate platform serve` under a flood: a 1 GB body and 3,000 junk requests (10,000 with
`--torture`).

The receiver runs as a real process. Against it, at once: three 1 GB bodies (chunked junk,
chunked behind a genuinely signed batch header, and junk with a Content-Length of 1 GB; each
generated lazily, the sender stops once it sees the answer), 3,000 junk requests (garbage,
headers naming a 3.5 KB gateway id, batches signed with another key), and a real gateway
delivering its records. The receiver stays up, its peak RSS (VmHWM) stays at most 150 MB, its
database grows at most 1 MB, every refusal is counted, and the gateway's batches are stored
meanwhile. Once, the bodies were read whole before the size check (1.5 GB RSS for 700 MB) and
every refusal was one events row with the attacker's gateway id (132 MB for 10,000).
3,000 junk requests show both defects as plainly (3,000 rows and ~40 MB before the fix, against
at most 200 rows and 1 MB) in a third of the time; the flood of 10,000 runs with --torture.
"""

from __future__ import annotations

import asyncio
import random
import select
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from uplink_support import GATEWAY, async_wait_until, free_port, make_store, make_tls

from gateway.platform.local import end_process
from gateway.simulator.backlog import backlog_config
from gateway.store import chain
from gateway.store.keys import public_pem
from gateway.uplink import wire
from gateway.uplink.engine import Limits
from gateway.uplink.https import HttpsTransport
from gateway.uplink.outbox import Outbox
from gateway.uplink.recipes import recipes_from_config
from gateway.uplink.transport import tls_context

RSS_LIMIT_KB = 150 * 1024
DB_GROWTH_LIMIT = 1024 * 1024
GIGABYTE = 1 << 30
JUNK_REQUESTS = 3_000
JUNK_REQUESTS_TORTURE = 10_000
RECIPES = recipes_from_config(backlog_config())


class Served:
    """`wellgate platform serve` as a process of its own, its stderr in a file."""

    def __init__(self, folder: Path, store) -> None:
        self.tls = make_tls(folder / "tls")
        self.port = free_port()
        (folder / "keys").mkdir()
        (folder / "keys" / "gw.pub").write_bytes(public_pem(store.writer.key.public_key()))
        self.database = folder / "data" / "platform.db"
        config = folder / "platform.toml"
        config.write_text(f'[receiver]\ndatabase = "{self.database}"\n\n[https]\n'
                          f'host = "127.0.0.1"\nport = {self.port}\n'
                          f'certificate = "{self.tls.server_pem}"\n'
                          f'private_key = "{self.tls.server_pem}"\n\n'
                          f'[[gateways]]\nid = "{GATEWAY}"\npublic_key = "keys/gw.pub"\n')
        self.stderr = (folder / "serve.log").open("wb")
        self.process = subprocess.Popen([sys.executable, "-m", "gateway", "platform", "serve",
                                         "--config", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.context = ssl.create_default_context(cafile=str(self.tls.ca_file))
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.base}/healthz", verify=self.context, timeout=1)
                break
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.process.kill()
                    raise AssertionError("serve did not start: " + self.log()) from None
                time.sleep(0.1)

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def status_kb(self, field: str) -> int:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.process.pid}/status")

    def database_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.database.parent.iterdir()
                   if path.name.startswith(self.database.name))

    def log(self) -> str:
        self.stderr.flush()
        return Path(self.stderr.name).read_text(errors="replace")[-3000:]

    def stop(self) -> int:
        end_process(self.process)
        self.stderr.close()
        return self.process.returncode


class RssWatch:
    """Samples the receiver's VmRSS every 10 ms; `over` is set once it passes the limit (the
    senders then stop, so that an unbounded receiver cannot take the machine's memory)."""

    def __init__(self, served: Served) -> None:
        self.served, self.peak_kb = served, 0
        self.over, self.done = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            try:
                rss = self.served.status_kb("VmRSS")
            except (OSError, AssertionError):
                return
            self.peak_kb = max(self.peak_kb, rss)
            if rss > RSS_LIMIT_KB:
                self.over.set()
            time.sleep(0.01)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(5)


def send_huge_body(served: Served, watch: RssWatch, start: bytes, chunked: bool) -> str:
    """POST a 1 GB body (`start`, then zeros, made as it goes) over a raw TLS socket; stop at
    the receiver's answer (its status line), when the connection is closed, or when the
    receiver's RSS passes the limit. Returns the status line, or how it ended."""
    raw = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    sock = served.context.wrap_socket(raw, server_hostname="127.0.0.1")
    framing = (b"Transfer-Encoding: chunked\r\n" if chunked
               else f"Content-Length: {GIGABYTE}\r\n".encode())
    sock.sendall(b"POST /v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                 + wire.CONTENT_TYPE.encode() + b"\r\n" + framing + b"\r\n")
    piece = 1 << 20
    zeros = bytes(piece)
    sent = 0
    try:
        while sent < GIGABYTE:
            data = start if sent == 0 else zeros
            data = data[:GIGABYTE - sent]
            sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            sent += len(data)
            if watch.over.is_set():
                return f"stopped: the receiver's RSS passed the limit after {sent} bytes"
            if select.select([sock], [], [], 0)[0] and (answer := _answer_so_far(sock)):
                return answer
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        return sock.recv(200).split(b"\r\n", 1)[0].decode()
    except (ConnectionError, ssl.SSLError) as exc:
        # The receiver answered and closed while we were sending: its answer may be waiting.
        try:
            answer = _answer_so_far(sock)
        except (OSError, ssl.SSLError):
            answer = None
        return answer or f"closed after {sent} bytes ({type(exc).__name__})"
    finally:
        sock.close()


def _answer_so_far(sock: ssl.SSLSocket) -> str | None:
    """The status line if the receiver has answered (or that it closed), without blocking
    (the socket may be readable for a TLS session ticket only)."""
    sock.setblocking(False)
    try:
        data = sock.recv(200)
    except ssl.SSLWantReadError:
        return None
    finally:
        sock.settimeout(30)
    return data.split(b"\r\n", 1)[0].decode() if data else "closed by the receiver"


def junk_bodies(count: int, store) -> list[bytes]:
    """Garbage, batch headers naming random 3.5 KB gateway ids, and batches under the
    registered gateway's name signed with another key."""
    rng = random.Random(10)
    chunk = Outbox(store.db).read(0, 16)
    forged = wire.encode_batch(Ed25519PrivateKey.generate(), GATEWAY, 1, 0.0, chunk.blocks,
                               chunk.records, chunk.prev_head, chunk.head, RECIPES)
    bodies = []
    for index in range(count):
        kind = index % 3
        if kind == 0:
            bodies.append(rng.randbytes(rng.randint(1, 300)))
        elif kind == 1:
            name = rng.randbytes(1750).hex()  # 3,500 random characters, one call (not 3,500)
            header = (b'{"blocks":1,"compression":"zlib","first_block":0,"first_seq":1,'
                      b'"gateway":"' + name.encode() + b'","head":"' + b"0" * 64
                      + b'","last_seq":16,"nonce":1,"payload_sha256":"' + b"0" * 64
                      + b'","payload_size":10,"prev_head":"' + b"0" * 64
                      + b'","resume":false,"sent":0,"v":1}')
            bodies.append(wire.MAGIC + struct.pack(">H", len(header)) + header
                          + bytes(chain.SIGNATURE_SIZE) + b"payload")
        else:
            bodies.append(forged)
    return bodies


def post_junk(served: Served, bodies: list[bytes]) -> dict[int, int]:
    codes: dict[int, int] = {}
    with httpx.Client(verify=served.context, timeout=30,
                      headers={"Content-Type": wire.CONTENT_TYPE}) as client:
        for body in bodies:
            code = client.post(f"{served.base}/v1/batches", content=body).status_code
            codes[code] = codes.get(code, 0) + 1
    return codes


@pytest.fixture
def world(tmp_path):
    store = make_store(tmp_path, minutes=30)
    served = Served(tmp_path / "platform", store)
    yield store, served
    if served.process.poll() is None:
        served.stop()
    store.writer.close()


async def test_a_1_gb_body_and_a_junk_flood_leave_the_receiver_small_and_working(world,
                                                                                 torture):
    store, served = world
    junk_requests = JUNK_REQUESTS_TORTURE if torture else JUNK_REQUESTS
    database_before = served.database_bytes()
    watch = RssWatch(served)
    transport = HttpsTransport("city", f"{served.base}/v1/batches",
                               tls_context(served.tls.ca_file), 20.0)
    engine = store.engine("city", transport, Limits(max_records=160, max_bytes=1 << 20,
                                                    max_age=0.0, backoff_initial=0.05,
                                                    backoff_max=0.5))
    delivering = asyncio.create_task(engine.run())
    genuine = wire.encode_batch(store.writer.key, GATEWAY, 10**9, 0.0,
                                *_parts(Outbox(store.db).read(0, 16)), RECIPES)
    genuine_start = genuine[:6 + struct.unpack(">H", genuine[4:6])[0] + chain.SIGNATURE_SIZE]
    bodies = junk_bodies(junk_requests, store)
    started = time.monotonic()
    try:
        await async_wait_until(lambda: engine.status.acked_seq > 0, 20, "a first delivery")
        batches_before = engine.status.batches
        with ThreadPoolExecutor(max_workers=7) as pool:
            huge = [pool.submit(send_huge_body, served, watch, start, chunked)
                    for start, chunked in ((b"junk" * 1024, True), (genuine_start, True),
                                           (b"junk" * 1024, False))]
            junk = [pool.submit(post_junk, served, bodies[part::4]) for part in range(4)]
            while not all(future.done() for future in huge + junk):
                if store.minutes < 60:
                    store.add_minutes(5)  # the gateway keeps measuring during the flood
                await asyncio.sleep(0.5)
            answers = [future.result() for future in huge]
            codes: dict[int, int] = {}
            for future in junk:
                for code, count in future.result().items():
                    codes[code] = codes.get(code, 0) + count
        flood_seconds = time.monotonic() - started
        assert served.process.poll() is None, "the receiver died: " + served.log()
        assert not watch.over.is_set(), (f"the receiver's RSS reached {watch.peak_kb} kB "
                                         f"(answers: {answers})")
        assert answers[0].startswith("HTTP/1.1 400"), answers
        assert answers[1].startswith("HTTP/1.1 413"), answers
        assert answers[2].startswith("HTTP/1.1 413"), answers
        assert sum(codes.values()) == junk_requests and set(codes) <= {400, 403}, codes
        await async_wait_until(lambda: engine.status.acked_seq == store.last_seq, 30,
                               "the gateway delivered everything")
        assert engine.status.batches > batches_before  # ... and batches were stored meanwhile
        peak_kb = served.status_kb("VmHWM")
    finally:
        engine.stop()
        await delivering
        watch.stop()
    assert served.stop() == 0, served.log()
    growth = served.database_bytes() - database_before
    print(f"\nflood {flood_seconds:.1f} s; peak RSS (VmHWM) {peak_kb / 1024:.1f} MB; sampled "
          f"{watch.peak_kb / 1024:.1f} MB; database +{growth / 1024:.0f} kB; answers {answers}")
    assert peak_kb <= RSS_LIMIT_KB, f"peak RSS {peak_kb} kB"
    assert growth <= DB_GROWTH_LIMIT, f"the database grew {growth} bytes"

    import sqlite3
    conn = sqlite3.connect(served.database)
    rows, refusals, longest = conn.execute(
        "SELECT count(*), sum(count), max(length(gateway) + length(detail)) FROM events "
        "WHERE kind != 'gap'").fetchone()
    stored = conn.execute("SELECT count(*) FROM records").fetchone()[0]
    conn.close()
    assert refusals == junk_requests + len(answers)  # every refusal counted ...
    assert rows <= 200 and longest <= 600  # ... on a few short rows
    assert stored == store.last_seq


def _parts(chunk):
    return chunk.blocks, chunk.records, chunk.prev_head, chunk.head



def test_10000_refusals_naming_random_gateways_take_a_few_short_rows(tmp_path):
    """Each refusal was an events row holding the attacker's 3.5 KB gateway id; now the ids are
    cut, repeats counted on one row, and new rows limited in rate (the rest counted on one)."""
    store = make_store(tmp_path, minutes=1)
    from gateway.platform.receiver import Receiver

    receiver = Receiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()})
    bodies = junk_bodies(3 * 3334, store)[1::3]  # the 3.5 KB unknown gateway ids
    for body in bodies:
        assert receiver.accept(body, "192.0.2.7").code == 403
    receiver.flush_events()
    rows, refusals, longest = receiver.conn.execute(
        "SELECT count(*), sum(count), max(length(gateway) + length(detail)) FROM events"
    ).fetchone()
    limited = receiver.conn.execute("SELECT count, source, detail FROM events WHERE kind = "
                                    "'rate_limited'").fetchone()
    receiver.close()
    store.writer.close()
    assert refusals == len(bodies)
    assert rows <= 101 and longest <= 400
    assert limited[0] == len(bodies) - (rows - 1)
    assert "unknown gateway" in limited[2] and "192.0.2.7" in limited[2]
