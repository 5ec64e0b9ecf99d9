"""The order gateway's figures as people read them: one table of the load runs (family
`service` of a results.json, written by bench/load.py), and how much of each family's
micro-benchmark speed-up reaches a request -- both generated, for the README, summary.md and
`make load`'s own summary."""

from __future__ import annotations

FAMILY = "service"
#: The hot-path calls one REST msgpack /orders with an Idempotency-Key makes, as micro-benchmark
#: cases: (family, case, params it must hold, calls per request, what it is).
CALLS = (
    ("serial", "msgpack_decode", {}, 1, "msgpack decode"),
    ("ratelimit", "keyed_acquire", {"key_type": "int"}, 1, "keyed limiter"),
    ("hashring", "lookup", {}, 1, "ring lookup"),
    ("serial", "proto_encode", {}, 1, "protobuf encode"),
)
ROUTE = "rest-orders-msgpack"


def table_rows(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the load runs' table: per run, req/s, p50/p99, the service's and
    backends' CPU per request, Locust's CPU, and the service's CPU over the floor of the same
    transport and server. The markdown table and the HTML report both print these rows."""
    by_run: dict[tuple, dict[str, dict]] = {}
    for r in records:
        if r["family"] == FAMILY and r["params"].get("kind") in (None, "total"):
            by_run.setdefault((r["impl"], r["case"], r["params"]["server"], r["params"]["backend"]), {})[r["metric"]] = r
    floors = {(figs["service_cpu"]["params"]["transport"], server): figs["service_cpu"]["value"]
              for (_, _, server, _), figs in by_run.items() if figs["service_cpu"]["params"]["floor"]}
    header = ["impl", "case", "server", "log", "req/s", "p50 ms", "p99 ms", "service CPU", "backends CPU",
              "Locust cores", "floor CPU", "x floor"]
    rows = []
    for (impl, case, server, backend), figs in by_run.items():
        cpu = figs["service_cpu"]
        floor = floors.get((cpu["params"]["transport"], server))
        # per order (SubmitMany) is not comparable with a floor per call: no ratio there
        comparable = floor is not None and not cpu["params"]["floor"] and cpu["unit"] == "cpu_us/req"
        ratio = f"{cpu['value'] / floor:.1f}" if comparable else ""
        mark = " (saturated)" if cpu.get("loadgen_saturated") else ""
        rows.append([impl, case, server, backend, f"{figs['throughput']['value']:.0f}{mark}",
                     f"{figs['latency_p50']['value']:.1f}", f"{figs['latency_p99']['value']:.1f}",
                     f"{cpu['value']:.0f} {cpu['unit']}", f"{figs['backend_cpu']['value']:.0f}",
                     f"{figs['loadgen_cpu']['value']:.2f}", "" if floor is None else f"{floor:.0f}", ratio])
    return header, rows


def table(records: list[dict]) -> str:
    """The load runs' table (table_rows) in markdown, numbers right-aligned."""
    header, rows = table_rows(records)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 4 + "---:|" * (len(header) - 4)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)



def _micro(doc: dict, family: str, case: str, holds: dict, impl: str) -> dict | None:
    """The figure of `impl` in that micro case (the smallest parameter set holding `holds`)."""
    found = [r for r in doc["results"] if r["family"] == family and r["case"] == case and r["impl"] == impl
             and r["metric"] == "time" and all(r["params"].get(k) == v for k, v in holds.items())]
    return min(found, key=lambda r: sorted(str(v) for v in r["params"].values())) if found else None


def reach(doc: dict, fast: str = "cython", spec: str = "pure") -> str:
    """A paragraph: the service's CPU per request on `spec` and `fast`, and what the micro figures
    of the same results.json say the hot paths of one request save."""
    cpu = {r["impl"]: r for r in doc["results"] if r["family"] == FAMILY and r["case"] == ROUTE
           and r["metric"] == "service_cpu"}
    if spec not in cpu or fast not in cpu:
        return ""
    saved, parts = 0.0, []
    for family, case, holds, calls, label in CALLS:
        slow, quick = _micro(doc, family, case, holds, spec), _micro(doc, family, case, holds, fast)
        if slow is None or quick is None:
            return ""
        ns = (slow["value"] - quick["value"]) * calls
        saved += ns
        parts.append(f"{label} {slow['value']:.0f} -> {quick['value']:.0f} ns")
    measured = cpu[spec]["value"] - cpu[fast]["value"]
    total = cpu[spec]["value"]
    difference = (f"`{fast}` {measured:.0f} us less" if measured >= 0
                  else f"`{fast}` {-measured:.0f} us more: this run's noise between two service processes is "
                       f"larger than what the tier saves")
    return (f"**How much reaches the service.** REST msgpack `POST /orders` with an Idempotency-Key costs the "
            f"gateway {cpu[spec]['value']:.0f} cpu_us/req on `{spec}` and {cpu[fast]['value']:.0f} on `{fast}` "
            f"({difference}). The micro-benchmarks of the same results.json put the hot "
            f"paths of one request at: {'; '.join(parts)} -- together {saved / 1000:.1f} us saved per request, "
            f"{saved / 1000 / total:.1%} of the `{spec}` request's {total:.0f} us. The rest of a request -- "
            f"HTTP, the Redis script, the log's producer and the event loop's wake-ups -- is the same code in "
            f"every tier; a measured difference well beyond the predicted one is noise between runs, or work "
            f"the micro-benchmarks do not see (the Numba tier's call overhead on one dict, for instance).")


def markdown(doc: dict) -> str:
    records = [r for r in doc["results"] if r["family"] == FAMILY]
    if not records:
        return ""
    parts = ["### service (the order gateway under Locust: `make load`)", "",
             "CPU per request of the gateway's process (psutil), next to the floor of the same stack "
             "measured in the same run; the embedded Redis and log broker's CPU apart; Locust's own CPU "
             "(a run where it saturated its core is marked).", "", table(records), ""]
    paragraph = reach(doc)
    if paragraph:
        parts += [paragraph, ""]
    return "\n".join(parts)
