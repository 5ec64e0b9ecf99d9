"""The REST gateway: a Starlette app, served by uvicorn with uvloop and httptools.

Why this stack: Starlette is the thin, well-kept ASGI toolkit under FastAPI, without the
per-request model validation that would duplicate the serial family's contract; uvicorn with
uvloop and httptools is its most used fast server. granian (a Rust server) runs the same app as
the measured alternative (`python -m bench serve --http-server granian`).

Routes: POST /orders (application/json or application/msgpack, answered in the same format;
errors are always JSON), POST /ping (the stack's floor: reads the body, answers a small JSON),
GET /healthz, GET /metrics, GET /openapi.json. The gateway is built in the app's lifespan, on
the server's event loop, so any ASGI server can run `create_app(config)`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time

import msgpack
import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from bench.service import metrics, orders
from bench.service.config import GatewayConfig
from bench.service.gateway import Gateway
from bench.service.idempotency import check_key
from bench.service.openapi import document

JSON = "application/json"
MSGPACK = "application/msgpack"
#: Content types taken as msgpack (the registered one and the older, common spelling).
_MSGPACK_TYPES = (MSGPACK, "application/x-msgpack")


def _json(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type=JSON)


def _bad(error: orders.BadRequest) -> Response:
    return _json(error.status, error.body())


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or BadRequest 413 as soon as it is larger than `limit` (a declared length is
    refused before reading; a chunked body is counted as it arrives)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise orders.BadRequest(f"the body is larger than {limit} bytes", None, 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise orders.BadRequest(f"the body is larger than {limit} bytes", None, 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def create_app(config: GatewayConfig, gateway: Gateway | None = None) -> Starlette:
    """The app over `gateway` (started and closed by its owner), or over one of its own, built,
    started and closed in the app's lifespan (how granian runs it: `app_from_env`)."""
    state: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if gateway is not None:
            state["gateway"] = gateway
            yield
            return
        own = Gateway(config)
        await own.start()
        state["gateway"] = own
        try:
            yield
        finally:
            await own.close()

    async def submit(request: Request) -> Response:
        start = time.perf_counter()
        response = await _submit(request)
        metrics.observe("rest", "/orders", response.status_code, time.perf_counter() - start)
        return response

    async def _submit(request: Request) -> Response:
        gateway: Gateway = state["gateway"]
        kind = _media_type(request)
        try:
            if kind != JSON and kind not in _MSGPACK_TYPES:
                raise orders.BadRequest(f"Content-Type must be {JSON} or {MSGPACK}, got {kind or 'none'!r}",
                                        None, 415)
            body = await read_body(request, config.max_body)
            if kind == JSON:
                order = orders.from_json(body)
            else:
                order = orders.from_msgpack(body, gateway.serial)
            key = request.headers.get("idempotency-key")
            if key is not None:
                try:
                    key = check_key(key)
                except ValueError as exc:
                    raise orders.BadRequest(str(exc), "Idempotency-Key") from None
        except orders.BadRequest as error:
            return _bad(error)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening; counted, not appended
        outcome = await gateway.submit(order, key)
        headers = {}
        if outcome.retry_after is not None:
            headers["Retry-After"] = str(outcome.retry_after)
        if outcome.status != 201:
            return _json(outcome.status, outcome.body, headers)
        if outcome.replayed:
            headers["Idempotent-Replayed"] = "true"
        if kind == JSON:
            return Response(orjson.dumps(outcome.body), 201, headers, media_type=JSON)
        return Response(msgpack.packb(outcome.body), 201, headers, media_type=MSGPACK)

    async def ping(request: Request) -> Response:
        start = time.perf_counter()
        try:
            await read_body(request, config.max_body)
            response = _json(200, {"ok": True})
        except orders.BadRequest as error:
            response = _bad(error)
        except ClientDisconnect:
            response = Response(status_code=400)
        metrics.observe("rest", "/ping", response.status_code, time.perf_counter() - start)
        return response

    async def healthz(request: Request) -> Response:
        return _json(200, state["gateway"].health())

    async def metrics_page(request: Request) -> Response:
        body, content_type = metrics.exposition()
        return Response(body, 200, media_type=content_type)

    spec = orjson.dumps(document(config.impl))

    async def openapi(request: Request) -> Response:
        return Response(spec, 200, media_type=JSON)

    routes = [Route("/orders", submit, methods=["POST"]), Route("/ping", ping, methods=["POST"]),
              Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics_page, methods=["GET"]),
              Route("/openapi.json", openapi, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=lifespan)
    return app


#: The environment variable that carries a GatewayConfig (JSON) to a server process of its own.
CONFIG_ENV = "LAB_GATEWAY_CONFIG"


def app_from_env() -> Starlette:
    """The app for an ASGI server started as a command (granian --factory ...)."""
    return create_app(GatewayConfig(**json.loads(os.environ[CONFIG_ENV])))
