"""The receiver's HTTPS interface (FastAPI): POST /v1/batches, gateway status, OpenAPI description.

The OpenAPI document is served at /openapi.json (and browsable at /docs). A batch is the raw
wire bytes (docs/wire-format.md) as the request body; the answer is always an Ack object, with
the HTTP status saying how it went: 200 stored or duplicate, 400 malformed, 403 unknown gateway
or bad batch signature, 409 replay or not continuing the stored chain (acked_seq says where to
continue), 413 too large, 422 a record or block signature failed verification, 500 the receiver
failed on it (nothing stored; send again).

A body is read as it comes, never past the receiver's limit: a Content-Length over it is refused
before any of the body is read, a chunked body once it passes the limit, and a body whose first
bytes already condemn it (not a batch, an unknown gateway, a bad envelope signature, a replayed
nonce) once those bytes are in. Such early answers close the connection.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from gateway import __version__
from gateway.platform.receiver import Ack, Receiver
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
    kind: str = Field(default="", description="with a rejection: rejected, "
                      "verification_failed, replay, out_of_order, fork or internal_error")
    fork_seq: int | None = Field(
        default=None, description="with a fork: the first seq whose record differs from the "
        "one stored (null: the fork is at or before acked_seq)")
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
        (413, "batch too large"), (422, "a record or block signature failed verification"),
        (500, "the receiver failed on the batch; nothing stored"))
}


def make_app(receiver: Receiver) -> FastAPI:
    app = FastAPI(title="wellgate platform receiver", version=__version__,
                  description="Receives the signed, compressed record batches of wellgate "
                  "gateways (wire format v1, docs/wire-format.md), verifies every block "
                  "signature and the chain, stores each record once and acknowledges.")

    @app.post(BATCH_PATH, response_model=AckModel, responses=_ACK_RESPONSES,
              openapi_extra={"requestBody": {"required": True, "content": {
                  CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}}}})
    async def post_batch(request: Request) -> Response:
        """Deliver one batch; the answer says what is stored (acked_seq) or why it was not."""
        source = request.client.host if request.client else ""
        try:
            body = await _read_body(receiver, request, source)
        except ClientDisconnect:
            return Response(status_code=400)
        if isinstance(body, Ack):
            return JSONResponse(receiver.ack_body(body), status_code=body.code,
                                headers={"Connection": "close"})
        ack = await run_in_threadpool(receiver.accept, body, source)
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


async def _read_body(receiver: Receiver, request: Request, source: str) -> bytes | Ack:
    """The body, read up to the receiver's limit; or the refusal that stopped reading it."""
    limit = receiver.max_batch_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return await run_in_threadpool(receiver.refuse_too_large, int(declared), source)
    chunks: list[bytes] = []
    size = 0
    screened = False
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return await run_in_threadpool(receiver.refuse_too_large, limit, source, True)
        chunks.append(chunk)
        if not screened:
            head = b"".join(chunks)
            chunks = [head]
            if size >= receiver.screen_length(head):
                screened = True
                refusal = await run_in_threadpool(receiver.screen, head, source)
                if refusal is not None:
                    return refusal
    return b"".join(chunks)
