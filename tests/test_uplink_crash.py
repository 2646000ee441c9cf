"""The gateway SIGKILLed in the middle of an upload: restarted, it resumes from the cursor in the
store's deliveries table, and every record arrives once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from uplink_support import (
    GATEWAY,
    HttpsReceiver,
    assert_delivered_exactly_once,
    make_store,
    make_tls,
    wait_until,
)

from gateway.uplink.outbox import Outbox

HELPER = Path(__file__).with_name("uplink_support.py")


def start_gateway(store, receiver, tls) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HELPER), str(store.state_dir), receiver.url,
                             str(tls.ca_file), "16"], cwd=HELPER.parent,
                            env={**os.environ, "PYTHONPATH": str(HELPER.parent)})


def test_gateway_killed_mid_upload_resumes_from_its_cursor(tmp_path):
    store = make_store(tmp_path, minutes=120)  # 1920 records, 120 batches of one block
    tls = make_tls(tmp_path / "tls")
    receiver = HttpsReceiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()},
                             tls)
    receiver.faults.slow, receiver.faults.delay = 10_000, 0.01  # pace it: ~10 ms a batch
    receiver.start()
    outbox = Outbox(store.db)
    try:
        gateway = start_gateway(store, receiver, tls)
        wait_until(lambda: outbox.acked_seq("city") >= 320, 30, "part of the upload")
        gateway.send_signal(signal.SIGKILL)
        gateway.wait(10)
        killed_at = outbox.acked_seq("city")
        assert 0 < killed_at < store.last_seq
        stored = receiver.receiver.conn.execute("SELECT max(seq) FROM records").fetchone()[0]
        assert stored >= killed_at  # the receiver may hold a batch whose ack the kill lost

        gateway = start_gateway(store, receiver, tls)
        assert gateway.wait(60) == 0
    finally:
        if gateway.poll() is None:
            gateway.kill()
        receiver.stop()
    assert outbox.acked_seq("city") == store.last_seq
    assert_delivered_exactly_once(receiver.receiver, store)
    # The restarted process never reused a nonce: no replay was refused.
    replays = receiver.receiver.conn.execute(
        "SELECT count(*) FROM events WHERE kind = 'replay'").fetchone()[0]
    assert replays == 0
    receiver.close()
    store.writer.close()
