"""`wellgate platform serve` and `report` as real processes: OpenAPI, delivery, report, stop."""

from __future__ import annotations

import asyncio
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from uplink_support import GATEWAY, async_wait_until, free_port, make_store, make_tls

from gateway.store.keys import public_pem

WELLGATE = [sys.executable, "-m", "gateway"]


def trust(tls) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls.ca_file))


def write_config(folder: Path, store, tls, port: int) -> Path:
    keys = folder / "keys"
    keys.mkdir()
    (keys / f"{GATEWAY}.pub").write_bytes(public_pem(store.writer.key.public_key()))
    config = folder / "platform.toml"
    config.write_text(f"""
[receiver]
database = "data/platform.db"

[https]
host = "127.0.0.1"
port = {port}
certificate = "{tls.server_pem}"
private_key = "{tls.server_pem}"

[[gateways]]
id = "{GATEWAY}"
public_key = "keys/{GATEWAY}.pub"
name = "Demo well"

[[gateways]]
id = "150602-0018"
public_key = "keys/{GATEWAY}.pub"
""")
    return config


@pytest.fixture
def served(tmp_path):
    store = make_store(tmp_path, minutes=60)
    tls = make_tls(tmp_path / "tls")
    port = free_port()
    config = write_config(tmp_path, store, tls, port)
    process = subprocess.Popen([*WELLGATE, "platform", "serve", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/healthz", verify=trust(tls), timeout=1)
            break
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(
                    f"serve did not start: {process.stderr.read().decode()}") from None
            time.sleep(0.1)
    yield store, tls, config, url, process
    if process.poll() is None:
        process.kill()
    store.writer.close()


async def test_serve_deliver_report_and_stop(served):
    store, tls, config, url, process = served
    openapi = httpx.get(f"{url}/openapi.json", verify=trust(tls)).json()
    assert "/v1/batches" in openapi["paths"]
    body = openapi["paths"]["/v1/batches"]["post"]["requestBody"]["content"]
    assert "application/vnd.wellgate.batch-v1" in body
    assert {"200", "403", "409", "422"} <= set(openapi["paths"]["/v1/batches"]["post"]
                                              ["responses"])

    from gateway.uplink.https import HttpsTransport
    from gateway.uplink.transport import tls_context

    engine = store.engine("city", HttpsTransport("city", f"{url}/v1/batches",
                                                 tls_context(tls.ca_file), 5.0))
    task = asyncio.create_task(engine.run())
    try:
        await async_wait_until(lambda: engine.status.acked_seq == store.last_seq, 30,
                               "delivery to the served receiver")
    finally:
        engine.stop()
        await task
    status = httpx.get(f"{url}/v1/gateways/{GATEWAY}", verify=trust(tls)).json()
    assert status["acked_seq"] == store.last_seq

    report = subprocess.run([*WELLGATE, "platform", "report", "--config", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    assert lines[0].split()[:4] == ["gateway", "records", "seq", "gaps"]
    row = next(line for line in lines if line.startswith(GATEWAY))
    assert row.split()[:4] == [GATEWAY, str(store.last_seq), f"1..{store.last_seq}", "0"]
    assert row.endswith("s ago")
    never = next(line for line in lines if line.startswith("150602-0018"))
    assert never.split()[1] == "0" and never.endswith("never")

    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0


def test_config_errors_exit_2_with_every_problem(tmp_path):
    config = tmp_path / "platform.toml"
    config.write_text('[receiver]\ndatabse = "x.db"\n\n[[gateways]]\nid = "gw 1"\n'
                      'public_key = "missing.pub"\n')
    result = subprocess.run([*WELLGATE, "platform", "serve", "--config", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "receiver.databse: unknown key" in result.stderr
    assert "gateways[0].id = 'gw 1'" in result.stderr or 'gateways[0].id = "gw 1"' in \
        result.stderr
    assert "nothing was started" in result.stderr


def test_report_without_a_database_says_so(tmp_path):
    config = tmp_path / "platform.toml"
    config.write_text('[receiver]\ndatabase = "none.db"\n')
    result = subprocess.run([*WELLGATE, "platform", "report", "--config", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "no receiver database" in result.stderr
