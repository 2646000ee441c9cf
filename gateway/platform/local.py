"""A reference receiver on this machine, for `wellgate demo`: throwaway TLS, an ack signing key,
the demo gateway in its registry, and `wellgate platform serve` as a process of its own, which
the demo stops and starts again to show an outage being caught up."""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
import ipaddress
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.platform.report import GatewayReport, gateway_reports
from gateway.store.keys import create_key

BATCH_PATH = "/v1/batches"  # gateway/platform/http.py (not imported: it needs fastapi)
HOST = "127.0.0.1"


def receiver_available() -> bool:
    """Whether this installation can run the receiver (the `platform` extra: fastapi, uvicorn)."""
    return all(importlib.util.find_spec(name) is not None for name in ("fastapi", "uvicorn"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def end_process(process: subprocess.Popen, signum: int = signal.SIGTERM,
                timeout: float = 10.0) -> None:
    """Send `signum` to a running process and wait for it; SIGKILL if it outlasts `timeout`."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A one-day CA and a certificate it signed for 127.0.0.1/localhost: (ca, cert, key) PEM
    files in `folder` (the demo's gateway trusts only that CA, as a real one trusts the city's)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wellgate demo CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
              .issuer_name(ca_name).public_key(server_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([
                  x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]),
                  critical=False)
              .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(_pem_key(server_key))
    return ca_file, cert_file, key_file


class LocalPlatform:
    """`wellgate platform serve` on 127.0.0.1 over HTTPS, its files in `folder`."""

    def __init__(self, folder: Path, gateway_id: str, public_key_pem: bytes) -> None:
        self.folder = Path(folder)
        self.gateway_id = gateway_id
        self.port = free_port()
        self.ca_file, cert, key = make_tls(self.folder / "tls")
        (self.folder / "gateway.pub").write_bytes(public_key_pem)
        create_key(self.folder / "keys", "ack")  # the receiver signs its acks with it
        self.ack_public_file = self.folder / "keys" / "ack.pub"
        self.database = self.folder / "platform.db"
        self.config_file = self.folder / "platform.toml"
        self.config_file.write_text(
            '[receiver]\ndatabase = "platform.db"\nack_key = "keys/ack.key"\n\n'
            f'[https]\nhost = "{HOST}"\nport = {self.port}\n'
            f'certificate = "{cert.relative_to(self.folder)}"\n'
            f'private_key = "{key.relative_to(self.folder)}"\n\n'
            f'[[gateways]]\nid = "{gateway_id}"\npublic_key = "gateway.pub"\n'
            'name = "the demo gateway"\n', encoding="utf-8")
        self.log_file = self.folder / "receiver.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._conn: sqlite3.Connection | None = None

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}{BATCH_PATH}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the receiver and wait until it listens; raises RuntimeError if it does not."""
        if self.running:
            return
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "platform", "serve", "--config",
                 str(self.config_file)], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.2):
                return
            time.sleep(0.1)
        self.stop()
        tail = self.log_file.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the local receiver did not start listening on {HOST}:{self.port} "
                           f"within {timeout:.0f} s; its log ({self.log_file}) ends:\n{tail}")

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (it closes its database), or SIGKILL (a crash, a power cut, the network
        gone: what an outage looks like from the gateway), then wait for it."""
        if self.process is not None:
            end_process(self.process, signal.SIGKILL if kill else signal.SIGTERM)
        self.process = None

    def report(self) -> GatewayReport | None:
        """What the receiver has stored from the demo gateway so far (None: nothing yet)."""
        if self._conn is None:
            if not self.database.exists():
                return None
            self._conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True,
                                         check_same_thread=False)
        try:
            reports = gateway_reports(self._conn, [self.gateway_id])
        except sqlite3.Error:  # the receiver is still creating its tables
            return None
        return next((r for r in reports if r.gateway == self.gateway_id), None)

    def close(self) -> None:
        self.stop()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
