"""`python -m bench.gate`: check (the default), accept, selftest. See bench/gate/__init__.py.

A command of its own package rather than a subcommand of `python -m bench`: the gate runs
in CI after the tests, on its own, and its modules import nothing of the harness until a
probe runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.gate.cells import Key, all_keys

DEFAULT_OUT = Path("reports/latest/gate")


def _keys(parser: argparse.ArgumentParser, chosen: list[str] | None) -> list[Key] | None:
    """--cell family[/case[/tier]] -> the gated keys it names (None: all)."""
    if not chosen:
        return None
    keys = []
    for text in chosen:
        parts = text.split("/")
        matched = [k for k in all_keys() if [k.family, k.case, k.tier][: len(parts)] == parts]
        if not matched:
            parser.error(f"--cell {text!r} names no gated cell; cells: {', '.join(map(str, all_keys()))}")
        keys += [k for k in matched if k not in keys]
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gate",
        description="The performance gate: instructions per call of each family's main case in every tier, "
                    "counted by callgrind, against the accepted baseline (bench/gate/baseline.json); wall time "
                    "base-vs-head beside it, not blocking. Exit 0 pass, 1 a cell 1.05x or more slower, "
                    "2 cannot compare.")
    # No command is `check` with its defaults.
    parser.set_defaults(command="check", cell=None, no_wall=False, out=DEFAULT_OUT, baseline=None, jobs=None)
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("check", help="count, judge against the baseline, time against the base (the default)")
    p.add_argument("--cell", action="append", metavar="F[/C[/T]]", help="only these cells (repeatable)")
    p.add_argument("--no-wall", action="store_true", help="skip the wall-time comparison")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"verdict.md and verdict.json (default {DEFAULT_OUT})")
    p.add_argument("--baseline", type=Path, help="another baseline file (default bench/gate/baseline.json)")
    p.add_argument("--jobs", type=int, help="cells counted at once (default: the cores, at most 4)")
    p = sub.add_parser("accept", help="count every cell and write them as the accepted baseline")
    p.add_argument("--baseline", type=Path, help="another baseline file (default bench/gate/baseline.json)")
    p.add_argument("--jobs", type=int, help="cells counted at once (default: the cores, at most 4)")
    p = sub.add_parser("selftest", help="inject 1.1x and 2x slowdowns into a pure and a Cython hot path in a "
                                        "copy of the tree; the gate must fail on them and pass without them")
    p.add_argument("--keep", action="store_true", help="keep the copy (its path is printed)")
    args = parser.parse_args(argv)

    from bench.gate import baseline, run

    if args.command == "check":
        return run.check(_keys(parser, args.cell), args.out, with_wall=not args.no_wall,
                         baseline_path=args.baseline or baseline.PATH, jobs=args.jobs)
    if args.command == "accept":
        return run.accept(args.baseline or baseline.PATH, args.jobs)
    from bench.gate import selftest

    return selftest.main(keep=args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
