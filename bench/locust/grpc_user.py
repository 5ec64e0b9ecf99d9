"""Locust against the gateway's gRPC face (lab.OrderService).

    locust -f bench/locust/grpc_user.py --host 127.0.0.1:50051 [--grpc-scenario S] [--user-rate R]

Locust runs on gevent, so grpc is switched to gevent first (`init_gevent`; grpc.aio does not fit
gevent). `GrpcUser` -- the pattern of Locust's own gRPC example -- times each call with
perf_counter and reports it through Locust's request event, with the failure (if any) named by
traffic.judge, so gRPC calls sit in the same stats, CSV and failure tables as HTTP requests.

Requests are encoded to bytes before the call (an identity request serializer): a resend is then
byte-identical, and malformed bytes can be sent at all; answers are decoded by bench/service/gateway_pb2.

Scenarios (--grpc-scenario, or LAB_GRPC_SCENARIO):
  mix          the mixed traffic of bench.locust.traffic.Mix over Submit, and a few short
               SubmitMany streams (default)
  submit       valid, unique orders, fresh keys                  -> "Submit"
  submit-many  streams of --stream-orders valid orders, one key  -> "SubmitMany"
  echo         the floor: Echo of a Ping carrying an order       -> "Echo"
--grpc-target overrides --host (the web UI runs this file beside rest.py, whose --host is HTTP).
"""

from __future__ import annotations

import os
import random
import time

import grpc
import grpc.experimental.gevent as grpc_gevent
from locust import User, events, task

from bench.locust import report, traffic  # noqa: F401 - report adds --summary-json
from bench.service import gateway_pb2
from impls.serial import order_pb2

grpc_gevent.init_gevent()

SERVICE = "lab.OrderService"
SCENARIOS = ("mix", "submit", "submit-many", "echo")
CALL_TIMEOUT_S = 10.0
#: In the mix, this share of tasks sends a SubmitMany stream of MIX_STREAM orders instead.
MIX_STREAM_SHARE, MIX_STREAM = 0.05, 5
_SIDES = {"BUY": order_pb2.BUY, "SELL": order_pb2.SELL}
_UNKNOWN_SIDE = 7  # proto3 enums are open: the wire carries it, the gateway refuses it
_OUTCOMES = {grpc.StatusCode.INVALID_ARGUMENT: traffic.INVALID, grpc.StatusCode.ABORTED: traffic.IN_FLIGHT,
             grpc.StatusCode.FAILED_PRECONDITION: traffic.REFUSED_CONFLICT,
             grpc.StatusCode.RESOURCE_EXHAUSTED: traffic.LIMITED, grpc.StatusCode.UNAVAILABLE: traffic.UNAVAILABLE}


def encode(order: dict) -> bytes:
    return order_pb2.Order(id=order["id"], user_id=order["user_id"], symbol=order["symbol"],
                           side=_SIDES.get(order["side"], _UNKNOWN_SIDE), price=order["price"], qty=order["qty"],
                           tags=order["tags"], meta=order_pb2.Meta(**order["meta"])).SerializeToString()


#: An unfinished varint: no protobuf message at all.
PROTOBUF_CODEC = traffic.Codec(encode, b"\xff\xff\xff\xff")


def _raw(body: bytes) -> bytes:
    return body


@events.init_command_line_parser.add_listener
def _add_arguments(parser) -> None:
    parser.add_argument("--grpc-scenario", choices=SCENARIOS, default=os.environ.get("LAB_GRPC_SCENARIO", "mix"),
                        help="what OrderServiceClient sends (see bench/locust/grpc_user.py)")
    parser.add_argument("--stream-orders", type=int, default=int(os.environ.get("LAB_STREAM_ORDERS", "20")),
                        help="orders per SubmitMany stream in the submit-many scenario")
    parser.add_argument("--grpc-target", default=os.environ.get("LAB_GRPC_TARGET", ""),
                        help="host:port of the gRPC server (default: --host)")


class GrpcUser(User):
    """A Locust user with a gRPC channel; `call` runs one call and `report` hands it to Locust."""

    abstract = True

    def __init__(self, environment):
        super().__init__(environment)
        options = environment.parsed_options
        target = (options.grpc_target if options else "") or self.host
        if not target:
            raise ValueError("no gRPC target: give --host host:port or --grpc-target")
        self.channel = grpc.insecure_channel(target.removeprefix("grpc://"))

    def on_stop(self) -> None:
        self.channel.close()

    def call(self, method, request, metadata=None):
        """(status code, answer or None, milliseconds) of one call; a client-side error (the
        answer would not decode, say) is UNKNOWN with the exception as the answer."""
        start = time.perf_counter()
        try:
            answer = method(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
            code = grpc.StatusCode.OK
        except grpc.RpcError as error:
            answer, code = None, error.code()
        except Exception as error:  # noqa: BLE001 - reported as the failure, the user goes on
            answer, code = error, grpc.StatusCode.UNKNOWN
        return code, answer, (time.perf_counter() - start) * 1000.0

    def report(self, name: str, milliseconds: float, length: int, failure: Exception | None) -> None:
        self.environment.events.request.fire(request_type="grpc", name=name, response_time=milliseconds,
                                             response_length=length, exception=failure, context={})


class OrderServiceClient(GrpcUser):
    """One client of lab.OrderService, paced by --user-rate."""

    wait_time = traffic.pacing

    def on_start(self) -> None:
        traffic.stagger(self)
        options = self.environment.parsed_options
        self.scenario = options.grpc_scenario if options else "mix"
        self.stream_orders = options.stream_orders if options else 20
        self.traffic = traffic.Mix(PROTOBUF_CODEC) if self.scenario == "mix" else traffic.Fresh(PROTOBUF_CODEC)
        deserialize = {"Submit": gateway_pb2.Ack.FromString, "SubmitMany": gateway_pb2.Acks.FromString}
        self.submit = self.channel.unary_unary(f"/{SERVICE}/Submit", request_serializer=_raw,
                                               response_deserializer=deserialize["Submit"])
        self.submit_many = self.channel.stream_unary(f"/{SERVICE}/SubmitMany", request_serializer=_raw,
                                                     response_deserializer=deserialize["SubmitMany"])
        self.echo = self.channel.unary_unary(f"/{SERVICE}/Echo", request_serializer=gateway_pb2.Ping.SerializeToString,
                                             response_deserializer=gateway_pb2.Ping.FromString)

    @task
    def send(self) -> None:
        if self.scenario == "echo":
            self.send_echo()
        elif self.scenario == "submit-many":
            self.send_stream(self.stream_orders)
        elif self.scenario == "mix" and random.random() < MIX_STREAM_SHARE:
            self.send_stream(MIX_STREAM)
        else:
            for shot in self.traffic.shots():
                self.traffic.answered(shot, self.send_submit(shot))

    def send_submit(self, shot: traffic.Shot) -> str | None:
        metadata = None if shot.key is None else (("idempotency-key", shot.key),)
        code, ack, ms = self.call(self.submit, shot.body, metadata)
        if code is grpc.StatusCode.OK:
            outcome = traffic.REPLAYED if ack.replayed else traffic.OK
        else:
            outcome = _OUTCOMES.get(code)
        failure = traffic.judge(shot.kind, outcome, _label(code, ack))
        self.report(traffic.name("Submit", shot.kind), ms, ack.ByteSize() if code is grpc.StatusCode.OK else 0,
                    failure)
        return outcome

    def send_stream(self, size: int) -> None:
        """One SubmitMany of `size` fresh orders under one key (the i-th order's key is key/i):
        every order must be accepted."""
        bodies = [encode(traffic.new_order()) for _ in range(size)]
        code, acks, ms = self.call(self.submit_many, iter(bodies), (("idempotency-key", traffic.new_key()),))
        failure = None
        if code is not grpc.StatusCode.OK:
            failure = traffic.UnexpectedAnswer(f"unexpected {_label(code, acks)}")
        elif acks.accepted != size:
            refused = next((ack.status for ack in acks.acks if ack.status != "accepted"), "missing")
            failure = traffic.UnexpectedAnswer(f"unexpected stream ack {refused}")
        self.report("SubmitMany", ms, acks.ByteSize() if code is grpc.StatusCode.OK else 0, failure)

    def send_echo(self) -> None:
        ping = gateway_pb2.Ping(payload=encode(traffic.new_order()))  # an order's size, as Submit sends
        code, answer, ms = self.call(self.echo, ping)
        failure = None if code is grpc.StatusCode.OK else traffic.UnexpectedAnswer(f"unexpected {_label(code, answer)}")
        self.report("Echo", ms, answer.ByteSize() if code is grpc.StatusCode.OK else 0, failure)


def _label(code: grpc.StatusCode, answer) -> str:
    """A status code's name; a client-side error names its exception."""
    if code is grpc.StatusCode.UNKNOWN and isinstance(answer, Exception):
        return f"client error {type(answer).__name__}"
    return code.name
