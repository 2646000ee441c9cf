"""What an uplink transport does for the engine: carry one batch, bring back the receiver's ack.

A transport raises TransportError when it cannot tell what became of a batch (no connection,
timeout, 5xx, a garbled answer): the engine backs off and sends the same records again, which is
harmless because the receiver de-duplicates by seq. An answer the receiver gave comes back as an
AckMessage, rejections included.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.uplink.acksign import ack_signature_problem


class TransportError(Exception):
    """The batch's fate is unknown; send it again later."""


@dataclass(frozen=True)
class AckMessage:
    """The receiver's answer (gateway/platform/receiver.py Ack, as JSON)."""

    status: str  # stored | duplicate | rejected
    acked_seq: int | None
    nonce: int | None
    reason: str = ""
    code: int = 200
    stored: int = 0
    last_nonce: int | None = None  # a replay rejection: the receiver's last accepted nonce

    @classmethod
    def from_json(cls, body: bytes | str, code: int | None = None,
                  platform_key: Ed25519PublicKey | None = None) -> AckMessage:
        """The ack in `body`; TransportError if it is none, or (with the platform's ack key)
        if it is not signed with that key (gateway/uplink/acksign.py)."""
        try:
            data: Any = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise TransportError(f"the receiver's answer is not JSON: {body[:80]!r}") from None
        if not isinstance(data, dict) or data.get("status") not in ("stored", "duplicate",
                                                                     "rejected"):
            raise TransportError(f"the receiver's answer is not an ack: {str(data)[:120]}")
        if platform_key is not None:
            problem = ack_signature_problem(platform_key, data)
            if problem is not None:
                raise TransportError(f"{problem}: ignored ({str(data)[:120]})")
        acked = data.get("acked_seq")
        nonce = data.get("nonce")
        last_nonce = data.get("last_nonce")
        return cls(data["status"], acked if isinstance(acked, int) else None,
                   nonce if isinstance(nonce, int) else None, str(data.get("reason", "")),
                   code if code is not None else int(data.get("code", 200)),
                   int(data.get("stored", 0) or 0),
                   last_nonce if isinstance(last_nonce, int) else None)


class Transport(Protocol):
    name: str

    async def send(self, batch: bytes, nonce: int, seqs: tuple[int, int]) -> AckMessage:
        """Deliver one batch (its nonce and first..last seq given for matching the ack)."""
        ...

    async def close(self) -> None: ...


def tls_context(ca_file: Path | None, client_cert: Path | None = None,
                client_key: Path | None = None) -> ssl.SSLContext:
    """Verify the server against ca_file (or the system's CAs); present a client certificate
    if one is given. Certificates and host names are always checked."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert is not None:
        context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    return context
