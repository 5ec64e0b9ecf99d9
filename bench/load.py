"""`python -m bench load`: the order gateway under Locust, every tier and transport at one offered
load, with the CPU each request costs the service next to the floor of its stack.

For each service configuration of the matrix it starts `python -m bench serve` (the service and
its embedded Redis and log broker pinned to one CPU, Locust to the others), and for each
scenario: a short warm-up run of Locust (Numba kernels, connection pools, the producer's
metadata: nothing of that lands in a figure), then the measured run. Around the measured run it
reads the CPU time of the service's processes and of the backends' (psutil) and the service's
request counters (/metrics), so

    service cpu_us/req = service CPU seconds / requests the service answered * 1e6

(per order for SubmitMany, whose call carries STREAM_ORDERS orders), and Locust's own CPU: a
Locust process near a full core (or that warned about its CPU) measures itself, and its records
are marked `loadgen_saturated`.

Each Locust user sends at a fixed pace from a random phase (bench/locust/traffic.py), so the
requests arrive spread out, as a lightly loaded service sees them: each one wakes the event
loop, the log producer's thread and the backends, and that is part of its CPU cost. (Users in
step would send in bunches that share wake-ups: less CPU per request, and queueing
latency instead.) Latencies are Locust's, which rounds them to whole milliseconds below 100 ms.

The matrix: every tier (pure, cython, numba) over REST JSON and msgpack /orders, gRPC Submit and
SubmitMany; the floors (REST /ping under uvicorn, gRPC Echo on the default gRPC server), measured
once on the reference service; and the peers: granian for REST (/orders and its /ping) and the
other gRPC server, grpc.aio (Submit and its Echo). All at OFFERED_RPS orders/s, far below what
the slowest tier serves, so the figures compare cost at equal work rather than peak throughput.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jsonschema

from bench import results, service_report
from bench.load_processes import LocustRun, counted, cpu_seconds, cpu_split, run_locust, running_service, scrape
from bench.measurement import HIGHER, LOWER
from bench.service.server import DEFAULT_GRPC_SERVER

FAMILY = service_report.FAMILY
#: Orders per second offered in every run: the slowest tier serves several times this on one core.
OFFERED_RPS = 300.0
USERS = 30
STREAM_ORDERS = 20
#: (measured, warm-up) seconds: full matrix under ~10 minutes, --quick under ~2.
DURATION_S, WARMUP_S = 15.0, 3.0
QUICK_DURATION_S, QUICK_WARMUP_S = 5.0, 2.0
#: The tier whose service also measures the floors, and that the peers run (the one a team
#: would deploy); the first available tier if it is not built.
REFERENCE_TIER = "cython"
# The gRPC server measured as the peer of the default one.
OTHER_GRPC_SERVER = "aio" if DEFAULT_GRPC_SERVER == "sync" else "sync"


@dataclass(frozen=True)
class Scenario:
    case: str          # the results' case
    transport: str     # rest | grpc
    format: str        # json | msgpack | protobuf
    route: str         # as the service's metrics name it: /orders, /ping, Submit, SubmitMany, Echo
    scenario: str      # the locustfile's scenario
    floor: bool = False
    orders_per_call: int = 1

    @property
    def unit(self) -> str:
        return "cpu_us/order" if self.orders_per_call > 1 else "cpu_us/req"


REST_JSON = Scenario("rest-orders-json", "rest", "json", "/orders", "orders-json")
REST_MSGPACK = Scenario("rest-orders-msgpack", "rest", "msgpack", "/orders", "orders-msgpack")
REST_PING = Scenario("rest-ping", "rest", "json", "/ping", "ping", floor=True)
GRPC_SUBMIT = Scenario("grpc-submit", "grpc", "protobuf", "Submit", "submit")
GRPC_MANY = Scenario("grpc-submit-many", "grpc", "protobuf", "SubmitMany", "submit-many",
                     orders_per_call=STREAM_ORDERS)
GRPC_ECHO = Scenario("grpc-echo", "grpc", "protobuf", "Echo", "echo", floor=True)


@dataclass(frozen=True)
class ServiceSpec:
    """One `bench serve` configuration and the scenarios measured on it."""

    impl: str          # the results' impl: a tier, or peer:<server>
    role: str          # tier | peer
    tier: str          # --impl of the service
    http_server: str
    grpc_server: str
    scenarios: tuple[Scenario, ...]
    backend: str | None = None  # the log, if not the run's (--backend)

    def server(self, scenario: Scenario) -> str:
        return self.http_server if scenario.transport == "rest" else self.grpc_server


def matrix(tiers: list[str], quick: bool) -> list[ServiceSpec]:
    """The services of a run: each tier, the floors on the reference tier, then the peers (not
    in --quick)."""
    reference = REFERENCE_TIER if REFERENCE_TIER in tiers else tiers[0]
    specs = []
    for tier in tiers:
        scenarios = (REST_JSON, GRPC_SUBMIT) if quick else (REST_JSON, REST_MSGPACK, GRPC_SUBMIT, GRPC_MANY)
        if tier == reference:
            scenarios += (REST_PING, GRPC_ECHO)
        specs.append(ServiceSpec(tier, "tier", tier, "uvicorn", DEFAULT_GRPC_SERVER, scenarios))
    if not quick:
        specs.append(ServiceSpec("peer:granian", "peer", reference, "granian", "none", (REST_JSON, REST_PING)))
        specs.append(ServiceSpec(f"peer:grpc-{OTHER_GRPC_SERVER}", "peer", reference, "uvicorn", OTHER_GRPC_SERVER,
                                 (GRPC_SUBMIT, GRPC_ECHO)))
        # The same requests with the log on Redis Streams: what Kafka's client costs a request
        # (librdkafka's threads wake for every message at this load) shows beside it.
        specs.append(ServiceSpec(reference, "tier", reference, "uvicorn", DEFAULT_GRPC_SERVER, (REST_JSON, GRPC_SUBMIT),
                                 "redis"))
    return specs


def select_tiers(chosen: list[str] | None) -> tuple[list[str], list[dict]]:
    """(tiers to measure, skipped entries with the reason): unavailable tiers are named, never replaced."""
    from impls import registry

    unavailable = {}
    for family in ("serial", "ratelimit", "hashring"):  # the service loads all three at --impl
        for tier, reason in registry.unavailable(family).items():
            unavailable.setdefault(tier, f"{family}: {reason}")
    wanted = chosen or registry.tiers("serial")
    for tier in wanted:
        if tier not in registry.tiers("serial"):
            raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(registry.tiers('serial'))}")
    skipped = [{"family": FAMILY, "impl": t, "reason": unavailable[t]} for t in wanted if t in unavailable]
    return [t for t in wanted if t not in unavailable], skipped


@dataclass
class Settings:
    out: Path
    users: int = USERS
    offered_rps: float = OFFERED_RPS
    duration_s: float = DURATION_S
    warmup_s: float = WARMUP_S
    workers: int = 0
    backend: str = "kafka"


# --- one measured run ------------------------------------------------------------------------

def locust_args(scenario: Scenario, users: int, offered_rps: float) -> list[str]:
    """The locustfile's options: its scenario, and the per-user pace that makes `offered_rps`
    orders/s over `users` users."""
    rate = offered_rps / scenario.orders_per_call / users
    if scenario.transport == "rest":
        return ["--rest-scenario", scenario.scenario, "--user-rate", f"{rate:g}"]
    return ["--grpc-scenario", scenario.scenario, "--stream-orders", str(scenario.orders_per_call),
            "--user-rate", f"{rate:g}"]


def measure(service, spec: ServiceSpec, scenario: Scenario, settings: Settings, cpus) -> list[dict]:
    """Warm up, then one measured Locust run of `scenario`; its records."""
    load_dir = settings.out / "load"
    label = f"{spec.impl.replace(':', '-')}-{scenario.case}"
    host = service.http if scenario.transport == "rest" else service.grpc
    args = locust_args(scenario, settings.users, settings.offered_rps)
    loadgen_cpus = cpus[1] if cpus else None
    warm = run_locust(LocustRun(scenario.transport, host, settings.users, settings.warmup_s,
                                load_dir / "warmup" / label, args, settings.workers, csv=False), loadgen_cpus)
    if warm.summary["total"]["failures"]:
        print(f"  note: {warm.summary['total']['failures']} failures while warming up {label}", file=sys.stderr)

    before_metrics = scrape(service.http)  # scraped outside the CPU window: a scrape is not a request
    before = (cpu_seconds(service.service_pids), cpu_seconds(service.backend_pids))
    run = run_locust(LocustRun(scenario.transport, host, settings.users, settings.duration_s, load_dir / label,
                               args, settings.workers), loadgen_cpus)
    after = (cpu_seconds(service.service_pids), cpu_seconds(service.backend_pids))
    after_metrics = scrape(service.http)

    def delta(name: str, **labels) -> float:
        return counted(after_metrics, name, **labels) - counted(before_metrics, name, **labels)

    requests = delta("gateway_requests_total", transport=scenario.transport, route=scenario.route)
    items = delta("gateway_orders_appended_total") if scenario.orders_per_call > 1 else requests
    if items <= 0:
        raise RuntimeError(f"{label}: the service counted no {scenario.route} requests; see {run.log}")
    return figures(spec, scenario, settings, run, (after[0] - before[0]) / items * 1e6,
                   (after[1] - before[1]) / items * 1e6, cpus)


def figures(spec: ServiceSpec, scenario: Scenario, settings: Settings, run, service_cpu: float,
            backend_cpu: float, cpus) -> list[dict]:
    total = run.summary["total"]
    params = {"transport": scenario.transport, "format": scenario.format, "route": scenario.route,
              "scenario": scenario.scenario, "server": spec.server(scenario), "floor": scenario.floor,
              "users": settings.users, "offered_rps": settings.offered_rps, "duration_s": settings.duration_s,
              "backend": spec.backend or settings.backend,
              "pinned": {"service": sorted(cpus[0]), "loadgen": sorted(cpus[1])} if cpus else "none"}
    if scenario.orders_per_call > 1:
        params["orders_per_call"] = scenario.orders_per_call
    if spec.role == "peer":
        params["tier"] = spec.tier
    if settings.workers:
        params["locust_workers"] = settings.workers

    def record(metric: str, unit: str, value: float, better: str, extra_params: dict | None = None, **fields):
        return {"family": FAMILY, "case": scenario.case, "impl": spec.impl, "role": spec.role,
                "params": {**params, **(extra_params or {})}, "metric": metric, "unit": unit, "value": value,
                "better": better, "loadgen_saturated": run.saturated, **fields}

    spread = {"p50": total["p50_ms"], "p95": total["p95_ms"], "p99": total["p99_ms"]}
    out = [record("throughput", "req/s", total["rps"], HIGHER, n=max(1, total["requests"])),
           record("latency_p50", "ms", spread["p50"], LOWER),
           record("latency_p95", "ms", spread["p95"], LOWER),
           record("latency_p99", "ms", spread["p99"], LOWER, percentiles=spread),
           record("service_cpu", scenario.unit, service_cpu, LOWER),
           record("backend_cpu", scenario.unit, backend_cpu, LOWER),
           record("loadgen_cpu", "cores", run.loadgen_cpu, LOWER),
           record("failures", "count", total["failures"], LOWER, {"kind": "total"})]
    if scenario.orders_per_call > 1:
        out.append(record("throughput_orders", "orders/s", total["rps"] * scenario.orders_per_call, HIGHER))
    kinds: dict[str, int] = {}
    for failure in run.summary["failures"]:
        kinds[failure["error"]] = kinds.get(failure["error"], 0) + failure["occurrences"]
    out += [record("failures", "count", count, LOWER, {"kind": kind}) for kind, count in sorted(kinds.items())]
    return out


# --- the whole run ---------------------------------------------------------------------------

def _value(records: list[dict], metric: str) -> float | None:
    return next((r["value"] for r in records if r["metric"] == metric and r["params"].get("kind") in (None, "total")),
                None)


def _check(label: str, records: list[dict], offered: float, scenario: Scenario) -> None:
    """Say what makes a figure doubtful, as it is measured."""
    saturated = records[0]["loadgen_saturated"]
    if saturated:
        print(f"  WARNING {label}: Locust used {_value(records, 'loadgen_cpu'):.2f} of a core (or warned about "
              f"its CPU): its req/s measures Locust, not the service", file=sys.stderr)
    wanted = offered / scenario.orders_per_call
    rps = _value(records, "throughput") or 0.0
    if rps < 0.9 * wanted:
        print(f"  WARNING {label}: {rps:.0f} req/s of the {wanted:.0f} offered", file=sys.stderr)
    failures = _value(records, "failures") or 0
    if failures:
        kinds = ", ".join(f"{r['params']['kind']}: {r['value']:g}" for r in records
                          if r["metric"] == "failures" and r["params"]["kind"] != "total")
        print(f"  WARNING {label}: {failures:g} failures ({kinds})", file=sys.stderr)


def run(tiers: list[str], skipped: list[dict], settings: Settings, quick: bool) -> list[dict]:
    cpus = cpu_split()
    if cpus:
        print(f"pinned: the service and its backends to CPU {sorted(cpus[0])}, Locust to CPU {sorted(cpus[1])}")
    else:
        print("not pinned: fewer than two CPUs (the service and Locust share them)", file=sys.stderr)
    for entry in skipped:
        print(f"skipped {entry['impl']}: {entry['reason']}", file=sys.stderr)
    records: list[dict] = []
    for spec in matrix(tiers, quick):
        backend = spec.backend or settings.backend
        serve_args = ["--impl", spec.tier, "--backend", backend, "--http-server", spec.http_server,
                      "--grpc-server", spec.grpc_server]
        started = time.monotonic()
        with running_service(*serve_args, log=settings.out / "load" / f"service-{spec.impl.replace(':', '-')}-{backend}.log",
                             cpus=cpus[0] if cpus else None) as service:
            print(f"{spec.impl}: {spec.http_server}/{spec.grpc_server} ready in {time.monotonic() - started:.1f} s "
                  f"(service pids {service.service_pids}, backend pids {service.backend_pids})")
            for scenario in spec.scenarios:
                label = f"{spec.impl} {scenario.case}"
                found = measure(service, spec, scenario, settings, cpus)
                _check(label, found, settings.offered_rps, scenario)
                records += found
                print(f"  {scenario.case:<20} {_value(found, 'throughput'):7.1f} req/s  "
                      f"p99 {_value(found, 'latency_p99'):6.1f} ms  service {_value(found, 'service_cpu'):7.1f} "
                      f"{scenario.unit}", flush=True)
    return records


def _run_key(record: dict) -> tuple:
    params = {k: v for k, v in record["params"].items() if k != "kind"}
    return record["case"], record["impl"], json.dumps(params, sort_keys=True)


def write_results(records: list[dict], skipped: list[dict], out: Path) -> Path:
    """Merge the records into OUT/results.json. A run's failure counts replace all of that run's
    earlier ones: a kind of failure that did not happen again must not linger from an old run."""
    new = results.new_document(records, skipped)
    path = out / "results.json"
    try:
        old = results.load(path) if path.exists() else None
    except (ValueError, jsonschema.ValidationError):
        old = None  # an unreadable old file is replaced, as results.write does
    if old is None:
        return results.write(new, out)
    runs = {_run_key(r) for r in records}
    kept = [r for r in old["results"]
            if not (r["family"] == FAMILY and r["metric"] == "failures" and _run_key(r) in runs)]
    return results.write(results.merge({**old, "results": kept}, new), out)


@contextlib.contextmanager
def _sigterm_unwinds():
    """SIGTERM ends this process like Ctrl-C does: through the `finally` blocks that stop the
    service and Locust (the default action would leave them running)."""
    def stop(number, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(settings: Settings, tiers: list[str] | None, quick: bool) -> int:
    tiers, skipped = select_tiers(tiers)
    if not tiers:
        print("no tier to measure", file=sys.stderr)
        return 1
    try:
        with _sigterm_unwinds():
            records = run(tiers, skipped, settings, quick)
    except KeyboardInterrupt:
        print("interrupted: the service and Locust are stopped; nothing written", file=sys.stderr)
        return 130
    path = write_results(records, skipped, settings.out)
    table = service_report.table(records)
    (settings.out / "load" / "summary.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nCPU per request: the service's processes (psutil) over the requests it counted (/metrics); "
          f"SubmitMany per order. Locust CSV and HTML in {settings.out / 'load'}; figures merged into {path}")
    return 0


def ui(settings: Settings, tier: str, port: int = 8089) -> int:
    """The service and Locust's web UI on 127.0.0.1:`port` (both locustfiles, a class picker;
    with workers, a master and `settings.workers` workers) until Ctrl-C or SIGTERM."""
    import subprocess

    from bench.backends.process import free_port
    from bench.load_processes import LOCUSTFILES, ROOT, child_setup, stop_processes

    cpus = cpu_split()
    loadgen_cpus = cpus[1] if cpus else None
    files = ",".join(str(LOCUSTFILES[t]) for t in ("rest", "grpc"))
    processes: list[subprocess.Popen] = []
    with _sigterm_unwinds(), running_service("--impl", tier, "--backend", settings.backend,
                                             log=settings.out / "load" / "service-ui.log",
                                             cpus=cpus[0] if cpus else None) as service:
        common = ["--host", service.http, "--grpc-target", service.grpc,
                  "--user-rate", f"{settings.offered_rps / settings.users:g}"]
        master = [sys.executable, "-m", "locust", "-f", files, "--class-picker", "--web-host", "127.0.0.1",
                  "--web-port", str(port), "-u", str(settings.users), "-r", str(settings.users), *common]
        workers = []
        if settings.workers:
            bind = free_port()
            master += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(bind)]
            workers = [[sys.executable, "-m", "locust", "-f", files, "--worker", "--master-host", "127.0.0.1",
                        "--master-port", str(bind), *common]] * settings.workers
        try:
            for command in [master, *workers]:
                processes.append(subprocess.Popen(command, cwd=ROOT, start_new_session=True,
                                                  preexec_fn=child_setup(loadgen_cpus)))
            print(f"Locust: http://127.0.0.1:{port}  (REST {service.http}, gRPC {service.grpc}, tier {tier}"
                  f"{f', {settings.workers} workers' if settings.workers else ''}); Ctrl-C stops everything",
                  flush=True)
            processes[0].wait()
        except KeyboardInterrupt:
            pass
        finally:
            stop_processes(processes)
    return 0
