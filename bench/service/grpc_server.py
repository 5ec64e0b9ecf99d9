"""OrderService over gRPC: Submit (unary), SubmitMany (client streaming), Echo (the floor).

The methods are registered with bytes in and bytes out (a generic handler, no generated stubs):
the request is decoded by the chosen tier's `decode_order`, as on REST, so `--impl` moves the
gRPC decode too, and a malformed message is the gateway's INVALID_ARGUMENT naming the field
rather than grpc's own "Exception deserializing request" (INTERNAL). Acks (bench/service/gateway.proto) are
encoded by the protobuf runtime (gateway_pb2.Ack): not a hot path of the lab.

Two servers, measured side by side by `make load`: grpc's sync server (the default: it spent
less CPU per call in that measure), whose handler threads hand each order to the gateway's event
loop and wait, and `grpc.aio` on that event loop itself.

Outcomes map to status codes: 400 -> INVALID_ARGUMENT, 409 -> ABORTED, 422 ->
FAILED_PRECONDITION, 429 -> RESOURCE_EXHAUSTED (trailing metadata retry-after), 503 ->
UNAVAILABLE; the details are the message, and trailing metadata `field` names the field. The
Idempotency-Key comes as metadata `idempotency-key`; in SubmitMany the i-th order's key is
"<key>/<i>", so a retried stream replays order by order.
"""

from __future__ import annotations

import asyncio
import time
from concurrent import futures

import grpc

from bench.service import metrics, orders
from bench.service.gateway import Gateway, Outcome
from bench.service.idempotency import check_key
from bench.service import gateway_pb2

SERVICE = "lab.OrderService"
SERVERS = ("aio", "sync")
#: Orders one SubmitMany stream may carry (INVALID_ARGUMENT beyond).
MAX_STREAM_ORDERS = 10_000
_CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 409: grpc.StatusCode.ABORTED,
          422: grpc.StatusCode.FAILED_PRECONDITION, 429: grpc.StatusCode.RESOURCE_EXHAUSTED,
          413: grpc.StatusCode.INVALID_ARGUMENT, 503: grpc.StatusCode.UNAVAILABLE}
_STREAM_STATUS = {409: "in_flight", 422: "conflict", 429: "rate_limited", 503: "unavailable"}
_GRPC_OPTIONS = [("grpc.so_reuseport", 0)]


class _Refused(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.retry_after = status, message, field, retry_after

    def trailers(self) -> tuple:
        found = []
        if self.field:
            found.append(("field", self.field))
        if self.retry_after is not None:
            found.append(("retry-after", str(self.retry_after)))
        return tuple(found)


def _key(context) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name == "idempotency-key":
            try:
                return check_key(value)
            except ValueError as exc:
                raise _Refused(400, str(exc), "idempotency-key") from None
    return None


def _order(raw: bytes, gateway: Gateway, limit: int, where: str = "") -> dict:
    if len(raw) > limit:
        raise _Refused(413, f"{where}the message is larger than {limit} bytes")
    try:
        return orders.from_protobuf(raw, gateway.serial)
    except orders.BadRequest as error:
        raise _Refused(400, where + error.message, error.field) from None


def _ack(outcome: Outcome) -> gateway_pb2.Ack:
    body = outcome.body
    return gateway_pb2.Ack(order_id=body["order_id"], status=body["status"], partition=body["partition"],
                         ts_ns=body["ts_ns"], replayed=outcome.replayed)


def _stream_ack(order: dict, outcome: Outcome) -> gateway_pb2.Ack:
    if outcome.status == 201:
        return _ack(outcome)
    return gateway_pb2.Ack(order_id=order["id"], status=_STREAM_STATUS[outcome.status], error=outcome.body["error"])


class Handlers:
    """The methods' logic as coroutines on the gateway's loop; the two servers wrap them."""

    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.limit = gateway.config.max_body

    async def submit(self, raw: bytes, key: str | None) -> bytes:
        order = _order(raw, self.gateway, self.limit)
        outcome = await self.gateway.submit(order, key)
        if outcome.status != 201:
            raise _Refused(outcome.status, outcome.body["error"], None, outcome.retry_after)
        return _ack(outcome).SerializeToString()

    async def submit_many(self, raws: list[bytes], key: str | None) -> bytes:
        checked = [_order(raw, self.gateway, self.limit, f"order[{i}]: ") for i, raw in enumerate(raws)]
        keys = None if key is None else [f"{key}/{i}" for i in range(len(checked))]
        outcomes = await self.gateway.submit_many(checked, None if key is None else keys)
        acks = [_stream_ack(o, outcome) for o, outcome in zip(checked, outcomes)]
        accepted = sum(1 for outcome in outcomes if outcome.status == 201)
        return gateway_pb2.Acks(acks=acks, accepted=accepted).SerializeToString()


def _timed(route: str):
    """Record a call's status and latency in the metrics, whatever it ends with."""
    def wrap(method):
        async def call(self, request, context):
            start = time.perf_counter()
            code = "OK"
            try:
                return await method(self, request, context)
            except _Refused as refused:
                code = _CODES[refused.status].name
                await context.abort(_CODES[refused.status], refused.message, refused.trailers())
            finally:
                metrics.observe("grpc", route, code, time.perf_counter() - start)
        return call
    return wrap


class AioService:
    """The grpc.aio servicer: runs on the gateway's event loop."""

    def __init__(self, handlers: Handlers):
        self.handlers = handlers

    @_timed("Submit")
    async def Submit(self, request: bytes, context) -> bytes:
        return await self.handlers.submit(request, _key(context))

    @_timed("SubmitMany")
    async def SubmitMany(self, request_iterator, context) -> bytes:
        key = _key(context)
        raws = []
        async for raw in request_iterator:
            raws.append(raw)
            if len(raws) > MAX_STREAM_ORDERS:
                raise _Refused(400, f"a stream may carry at most {MAX_STREAM_ORDERS} orders")
        return await self.handlers.submit_many(raws, key)

    @_timed("Echo")
    async def Echo(self, request: bytes, context) -> bytes:
        return request


def _generic(service) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(SERVICE, {
        "Submit": grpc.unary_unary_rpc_method_handler(service.Submit),
        "SubmitMany": grpc.stream_unary_rpc_method_handler(service.SubmitMany),
        "Echo": grpc.unary_unary_rpc_method_handler(service.Echo),
    })


async def start_aio(gateway: Gateway, port: int) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server on the running loop at 127.0.0.1:`port` (0: any); (server, port)."""
    server = grpc.aio.server(options=_GRPC_OPTIONS)
    server.add_generic_rpc_handlers((_generic(AioService(Handlers(gateway))),))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound


class SyncService:
    """The sync servicer: grpc's handler threads, each call run on the gateway's loop."""

    def __init__(self, handlers: Handlers, loop: asyncio.AbstractEventLoop, timeout_s: float):
        self.handlers, self.loop = handlers, loop
        self.timeout = timeout_s * 3  # the gateway answers 503 within its own timeout first

    def _run(self, route: str, coroutine_of, context):
        start = time.perf_counter()
        code = "OK"
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine_of(), self.loop)
            return future.result(self.timeout)
        except _Refused as refused:
            code = _CODES[refused.status].name
            context.set_trailing_metadata(refused.trailers())
            context.abort(_CODES[refused.status], refused.message)  # raises
        finally:
            metrics.observe("grpc", route, code, time.perf_counter() - start)

    def Submit(self, request: bytes, context) -> bytes:
        return self._run("Submit", lambda: self._submit(request, context), context)

    async def _submit(self, request, context):
        return await self.handlers.submit(request, _key(context))

    def SubmitMany(self, request_iterator, context) -> bytes:
        raws = []
        for raw in request_iterator:
            raws.append(raw)
            if len(raws) > MAX_STREAM_ORDERS:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"a stream may carry at most {MAX_STREAM_ORDERS} orders")
        return self._run("SubmitMany", lambda: self._submit_many(raws, context), context)

    async def _submit_many(self, raws, context):
        return await self.handlers.submit_many(raws, _key(context))

    def Echo(self, request: bytes, context) -> bytes:
        start = time.perf_counter()
        metrics.observe("grpc", "Echo", "OK", time.perf_counter() - start)
        return request


def start_sync(gateway: Gateway, port: int, loop: asyncio.AbstractEventLoop, threads: int = 16) -> tuple[grpc.Server, int]:
    """grpc's sync server at 127.0.0.1:`port` on `threads` handler threads; (server, port)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
                         options=_GRPC_OPTIONS)
    server.add_generic_rpc_handlers((_generic(SyncService(Handlers(gateway), loop, gateway.config.timeout_s)),))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, bound
