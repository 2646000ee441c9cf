"""Signed acknowledgements: the platform signs each ack with its own Ed25519 key, so that only
the platform can move a gateway's cursor (an ack makes the gateway treat records as delivered,
and retention may then prune them).

    message   = b"wellgate-ack-v1" + the ack's JSON object without "signature", written with
                sorted keys, separators (",", ":") and ensure_ascii=False, UTF-8
    signature = Ed25519(platform ack key, message), 64 bytes, sent as 128 hex digits in the
                ack's "signature" member

A gateway given the platform's public key (an uplink's `platform_key`) takes no ack without a
valid signature; without it, acks are taken as they come (HTTPS: the server certificate vouches
for them; MQTT: only the broker's access control does).
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ACK_DOMAIN = b"wellgate-ack-v1"
SIGNATURE_FIELD = "signature"
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def ack_message(ack: dict[str, Any]) -> bytes:
    """The bytes an ack's signature covers."""
    unsigned = {name: value for name, value in ack.items() if name != SIGNATURE_FIELD}
    return ACK_DOMAIN + _CANONICAL.encode(unsigned).encode("utf-8")


def sign_ack(key: Ed25519PrivateKey, ack: dict[str, Any]) -> dict[str, Any]:
    """The ack with its signature member."""
    return {**ack, SIGNATURE_FIELD: key.sign(ack_message(ack)).hex()}


def ack_signature_problem(key: Ed25519PublicKey, ack: dict[str, Any]) -> str | None:
    """None when the ack is signed by `key`; else what is wrong with it."""
    signature = ack.get(SIGNATURE_FIELD)
    if not isinstance(signature, str):
        return "the ack is not signed (the uplink's platform_key requires a signed ack)"
    try:
        key.verify(bytes.fromhex(signature), ack_message(ack))
    except (ValueError, InvalidSignature):
        return "the ack's signature does not verify with the uplink's platform_key"
    return None
