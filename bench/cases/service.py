"""The order gateway's targets (issue 9). Its figures are measured by `python -m bench load`
(bench/load.py: Locust against `python -m bench serve`), not by the harness: no CASES here.
Each figure is the service's CPU per request next to the floor of its own stack (a trivial
request, POST /ping or gRPC Echo) measured in the same run."""

from bench.service.server import DEFAULT_GRPC_SERVER
from bench.targets import Target

CASES: list = []

_REST_FLOOR = {"route": "/ping", "scenario": "ping", "floor": True}
_GRPC_FLOOR = {"route": "Echo", "scenario": "echo", "floor": True}

TARGETS = [
    Target("rest-orders-json", "REST POST /orders (limit, idempotency, ring, append), Cython: <= 3x its stack's "
           "floor (POST /ping) in cpu_us/req", impl="cython", metric="service_cpu", params={"server": "uvicorn"},
           ratio_case="rest-ping", ratio_params=_REST_FLOOR, max_ratio=3.0),
    Target("grpc-submit", "gRPC Submit, Cython: <= 2x its trivial-call floor (Echo) in cpu_us/req", impl="cython",
           metric="service_cpu", params={"server": DEFAULT_GRPC_SERVER}, ratio_case="grpc-echo", ratio_params=_GRPC_FLOOR,
           max_ratio=2.0),
    Target("grpc-submit-many", "gRPC SubmitMany: <= 40 cpu_us per order", impl="best-tier", metric="service_cpu",
           at_most=40.0),
    Target("rest-orders-msgpack", "the tier shows: pure's cpu_us/req measurably above Cython's (>= 5%)",
           impl="cython", metric="service_cpu", faster_than="pure", min_speedup=1.05),
]

