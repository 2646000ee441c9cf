"""HTTPS transport: POST the batch to the receiver's URL (httpx), the ack is the response body.

TLS is verified against the configured CA (or the system's CAs); an https:// URL is required, so
nothing goes in clear. Responses: 2xx and 4xx carry an ack (a 4xx one a rejection with its
reason); 5xx, timeouts and connection errors are TransportError (send again later), and so is
an ack that does not name this gateway and this batch (transport.py ack_problem).
"""

from __future__ import annotations

import ssl

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.uplink.transport import AckMessage, TransportError, ack_problem
from gateway.uplink.wire import CONTENT_TYPE, open_envelope


class HttpsTransport:
    def __init__(self, name: str, url: str, context: ssl.SSLContext, timeout: float,
                 platform_key: Ed25519PublicKey | None = None) -> None:
        if not url.startswith("https://"):
            raise ValueError(f"uplink {name}: url {url!r}; expected https://... (nothing is sent "
                             "in clear)")
        self.name = name
        self.url = url
        self.platform_key = platform_key  # acks must be signed with it (acksign.py)
        self.client = httpx.AsyncClient(verify=context, timeout=httpx.Timeout(timeout),
                                        headers={"Content-Type": CONTENT_TYPE})

    async def send(self, batch: bytes, nonce: int, seqs: tuple[int, int]) -> AckMessage:
        try:
            response = await self.client.post(self.url, content=batch)
        except httpx.TimeoutException:
            raise TransportError(f"no answer from {self.url} within "
                                 f"{self.client.timeout.read:g} s") from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{self.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 500:
            raise TransportError(f"{self.url} answered HTTP {response.status_code}")
        ack = AckMessage.from_json(response.content, response.status_code, self.platform_key)
        problem = ack_problem(ack, open_envelope(batch).gateway, nonce, seqs)
        if problem is not None:
            raise TransportError(f"{problem}: ignored")
        return ack

    async def close(self) -> None:
        await self.client.aclose()
