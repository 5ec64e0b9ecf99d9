"""The gateway's Prometheus metrics (prometheus_client; its default registry also exports the
process' CPU seconds, memory and open files, which `make load` reads as the service's CPU).

Label children are bound once per (transport, route, status): `labels()` parses its arguments
on every call, a few microseconds a request that the figures would count as the gateway's.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("gateway_requests", "Requests answered, by transport, route and status",
                   ("transport", "route", "status"))
LATENCY = Histogram("gateway_request_seconds", "Time from a request's arrival to its answer",
                    ("transport", "route"),
                    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                             2.5, 5.0))
ORDERS = Counter("gateway_orders_appended", "Orders stored in the log, by partition", ("partition",))

_requests: dict = {}
_latency: dict = {}


def observe(transport: str, route: str, status: int | str, seconds: float) -> None:
    key = (transport, route, status)
    child = _requests.get(key)
    if child is None:
        child = _requests[key] = REQUESTS.labels(transport, route, str(status))
    child.inc()
    timer = _latency.get(key[:2])
    if timer is None:
        timer = _latency[key[:2]] = LATENCY.labels(transport, route)
    timer.observe(seconds)


_orders: dict = {}


def appended(partition: int) -> None:
    child = _orders.get(partition)
    if child is None:
        child = _orders[partition] = ORDERS.labels(str(partition))
    child.inc()


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
