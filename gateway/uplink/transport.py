"""What an uplink transport does for the engine: carry one batch, bring back the receiver's ack.

A transport raises TransportError when it cannot tell what became of a batch (no connection,
timeout, 5xx, a garbled answer): the engine backs off and sends the same records again, which is
harmless because the receiver de-duplicates by seq. An answer the receiver gave comes back as an
AckMessage, rejections included; ack_problem() says whether it answers the batch that was sent
(an ack names the gateway and the batch, and a signed ack is signed over both).
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
    gateway: str = ""  # the gateway and the batch (seqs) the ack answers
    first_seq: int | None = None
    last_seq: int | None = None
    kind: str = ""  # a rejection's kind: "fork" (the gateway's chain differs), "replay", ...
    fork_seq: int | None = None  # a fork: the first seq the receiver holds other records for

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
        number = {name: value if isinstance(value := data.get(name), int)
                  and not isinstance(value, bool) else None
                  for name in ("acked_seq", "nonce", "last_nonce", "first_seq", "last_seq",
                               "fork_seq", "code", "stored")}
        return cls(data["status"], number["acked_seq"], number["nonce"],
                   str(data.get("reason", "")),
                   code if code is not None else number["code"] or 200,
                   number["stored"] or 0, number["last_nonce"], str(data.get("gateway", "")),
                   number["first_seq"], number["last_seq"], str(data.get("kind", "")),
                   number["fork_seq"])


def ack_problem(ack: AckMessage, gateway: str, nonce: int, seqs: tuple[int, int]) -> str | None:
    """None when `ack` answers the batch `gateway` sent with `nonce` over `seqs` (its nonce; or,
    stored or duplicate, the same seqs: the ack of an earlier copy); else what is wrong. A
    refusal of a batch the receiver could not read (no nonce; not a 409) names none and moves
    nothing: it is taken as it is."""
    if ack.status == "rejected" and ack.nonce is None and ack.code != 409:
        return None
    if ack.gateway != gateway:
        return f"the ack is for gateway {ack.gateway[:64]!r}, not this one ({gateway!r})"
    if ack.nonce == nonce and ack.first_seq in (None, seqs[0]) and ack.last_seq in (None,
                                                                                   seqs[1]):
        return None
    if ack.status != "rejected" and (ack.first_seq, ack.last_seq) == seqs:
        return None
    return (f"the ack answers batch nonce {ack.nonce} (seq {ack.first_seq}..{ack.last_seq}), "
            f"not the one sent (nonce {nonce}, seq {seqs[0]}..{seqs[1]})")


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
