"""The receiver's HTTPS interface (FastAPI): POST /v1/batches, gateway status, OpenAPI description.

The OpenAPI document is served at /openapi.json (and browsable at /docs). A batch is the raw
wire bytes (docs/wire-format.md) as the request body; the answer is always an Ack object, with
the HTTP status saying how it went: 200 stored or duplicate, 400 malformed, 403 unknown gateway
or bad batch signature, 409 replay or not continuing the stored chain (acked_seq says where to
continue), 413 too large, 422 a record or block signature failed verification.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gateway import __version__
from gateway.platform.receiver import Receiver
from gateway.uplink.wire import CONTENT_TYPE

BATCH_PATH = "/v1/batches"


class AckModel(BaseModel):
    """The receiver's answer to one batch."""

    status: str = Field(description="stored, duplicate or rejected")
    gateway: str = Field(description="the gateway id the batch named")
    acked_seq: int | None = Field(
        description="every record of this gateway up to this seq is stored (null: unknown "
        "gateway)")
    nonce: int | None = Field(description="the batch's nonce")
    first_seq: int | None = Field(description="the batch's first seq")
    last_seq: int | None = Field(description="the batch's last seq")
    stored: int = Field(description="records of this batch newly stored")
    reason: str = Field(description="why it was rejected (or what was already stored)")
    code: int = Field(description="the HTTP status, repeated")
    last_nonce: int | None = Field(default=None,
                                   description="with a replay: the last nonce accepted")
    signature: str | None = Field(
        default=None, description="Ed25519 signature by the receiver's ack key, 128 hex digits, "
        "over b'wellgate-ack-v1' + this object without signature as compact JSON with sorted "
        "keys (present when the receiver has an ack_key)")


class GatewayStatusModel(BaseModel):
    gateway: str
    acked_seq: int
    first_seq: int | None
    next_block: int


_ACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": AckModel, "description": text} for code, text in (
        (400, "malformed batch"), (403, "unknown gateway, or batch signature invalid"),
        (409, "replayed, or not continuing the stored chain (acked_seq: continue after it)"),
        (413, "batch too large"), (422, "a record or block signature failed verification"))
}


def make_app(receiver: Receiver) -> FastAPI:
    app = FastAPI(title="wellgate platform receiver", version=__version__,
                  description="Receives the signed, compressed record batches of wellgate "
                  "gateways (wire format v1, docs/wire-format.md), verifies every block "
                  "signature and the chain, stores each record once and acknowledges.")

    @app.post(BATCH_PATH, response_model=AckModel, responses=_ACK_RESPONSES,
              openapi_extra={"requestBody": {"required": True, "content": {
                  CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}}}})
    async def post_batch(request: Request) -> JSONResponse:
        """Deliver one batch; the answer says what is stored (acked_seq) or why it was not."""
        body = await request.body()
        ack = await run_in_threadpool(receiver.accept, body)
        return JSONResponse(receiver.ack_body(ack), status_code=ack.code)

    @app.get("/v1/gateways/{gateway}", response_model=GatewayStatusModel,
             responses={404: {"description": "not a registered gateway"}})
    async def gateway_status(gateway: str) -> dict[str, Any]:
        """What is stored for one registered gateway (where its uplink continues)."""
        status = await run_in_threadpool(receiver.status, gateway)
        if status is None:
            raise HTTPException(404, f"{gateway!r} is not a registered gateway")
        return status

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness."""
        return {"status": "ok"}

    return app
