"""Why a connection to a broker or receiver failed, in words that say what to change."""

from __future__ import annotations

import socket
import ssl


def connect_failure(error: BaseException | None, host: str, port: int, tls: bool) -> str:
    """What went wrong connecting to host:port, and what to check."""
    where = f"{host}:{port}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return (f"certificate verify failed at {where} ({error.verify_message}): ca_file must "
                "hold the CA that signed the broker's certificate, and host must be a name the "
                "certificate carries")
    if isinstance(error, ssl.SSLError | ConnectionResetError) and tls:
        reason = getattr(error, "reason", None) or type(error).__name__
        return (f"TLS handshake with {where} failed ({reason}): is {port} the broker's "
                "plain-text port (MQTT: usually 1883)? use its TLS port (usually 8883), or set "
                "tls = false if the broker has no TLS")
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused by {where}: nothing listens on port {port} (wrong port, or " \
               "the broker is down)"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve {host!r} ({error.strerror}): check the host name and DNS"
    if isinstance(error, TimeoutError | socket.timeout):
        return f"no answer from {where} (a firewall, or the wrong address)"
    if error is None:
        return f"cannot connect to {where}"
    return f"cannot connect to {where}: {error}"
