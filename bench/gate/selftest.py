"""`make gate-selftest`: the gate must catch a 1.1x and a 2x slowdown of a pure and of a
Cython hot path, and pass once they are gone.

In a copy of this tree (its files as they are now, and its built extensions), the selftest
injects calibrated extra work into `Ring.lookup` of the hashring family's pure tier (a
Python loop) and of its Cython tier (a C loop over a volatile accumulator), and runs the gate
on those two cells (`--cell`, no wall time):

1. clean copy: the gate passes; these are the clean counts;
2. calibration: the injection with no iterations (its fixed cost) and with a known number of
   them (the cost of one iteration), in each tier;
3. 1.1x and 4. 2x the clean count of each cell: the gate must fail, naming the family, case,
   tier, ratio and measure of both cells;
5. the injection removed (the original sources and extension put back): the gate passes.

The number of iterations is read from a file beside each module when it is imported, so the
Cython extension is rebuilt once, not per step.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.gate.callgrind import MEASURE
from bench.gate.cells import Key
from bench.gate.run import ROOT

PURE = Key("hashring", "lookup", "pure")
CYTHON = Key("hashring", "lookup", "cython")
#: Extra iterations of the calibration step (about 1.5x pure's count, 2x Cython's).
CALIBRATION = 100

PURE_SOURCE = "impls/hashring/pure.py"
CYTHON_SOURCE = "native/hashring.pyx"
PURE_BURN = "impls/hashring/_gate_burn_pure"
CYTHON_BURN = "impls/hashring/_gate_burn_cython"

#: A Python loop over a prebuilt tuple: no range object to make on every call, so the fixed
#: part of the extra work stays well under a tenth of the cell.
_PURE_LOOP = "for _gate_i in _GATE_ITERATIONS:\n{indent}    pass\n"
_PURE_TAIL = """

# --- injected by bench/gate/selftest.py: extra work in Ring.lookup, iterations from a file ---
import pathlib as _gate_pathlib  # noqa: E402

_GATE_ITERATIONS = (None,) * int(_gate_pathlib.Path(__file__).with_name("_gate_burn_pure").read_text())
"""
_CYTHON_CALL = "lab_gate_burn()\n"
_CYTHON_TAIL = '''

# --- injected by bench/gate/selftest.py: extra work in Ring.lookup, iterations from a file ---
cdef extern from *:
    """
    static volatile unsigned long lab_gate_sink;
    static long lab_gate_n;
    static void lab_gate_burn(void) { for (long i = 0; i < lab_gate_n; i++) lab_gate_sink += (unsigned long)i; }
    static void lab_gate_set(long n) { lab_gate_n = n; }
    """
    void lab_gate_burn()
    void lab_gate_set(long n)

import pathlib as _gate_pathlib

lab_gate_set(int(_gate_pathlib.Path(__file__).with_name("_gate_burn_cython").read_text()))
'''


class SelftestError(AssertionError):
    pass


def copy_tree(source: Path, dest: Path) -> None:
    """This tree's files as they are (tracked and new, not ignored) and its built extensions."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=source,
                            capture_output=True, check=True).stdout.decode().split("\0")
    built = [str(p.relative_to(source)) for p in source.glob("impls/*/_cy*.so")]
    for name in filter(None, listed + built):
        src = source / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def insert_in_body(source: str, signature: str, statement: str) -> str:
    """`statement` as the first statement of the function whose `def` line starts with
    `signature` (after its docstring), indented as the body is."""
    lines = source.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip().startswith(signature)]
    if len(starts) != 1:
        raise SelftestError(f"expected one {signature!r}, found {len(starts)}: the injection needs updating")
    i = starts[0] + 1
    indent = re.match(r"\s*", lines[i]).group(0)
    first = lines[i].strip()
    if first.startswith('"""'):  # the statement goes after the docstring
        if not (len(first) > 3 and first.endswith('"""')):  # one over several lines
            i += 1
            while not lines[i].rstrip().endswith('"""'):
                i += 1
        i += 1
    lines.insert(i, indent + statement.format(indent=indent))
    return "".join(lines)


def inject(tree: Path) -> None:
    pure = tree / PURE_SOURCE
    pure.write_text(insert_in_body(pure.read_text(), "def lookup(self", _PURE_LOOP) + _PURE_TAIL)
    cython = tree / CYTHON_SOURCE
    cython.write_text(insert_in_body(cython.read_text(), "def lookup(self", _CYTHON_CALL) + _CYTHON_TAIL)
    set_burn(tree, 0, 0)
    build_hashring(tree)


def set_burn(tree: Path, pure: int, cython: int) -> None:
    (tree / PURE_BURN).write_text(str(pure))
    (tree / CYTHON_BURN).write_text(str(cython))


def build_hashring(tree: Path) -> None:
    """Rebuild impls.hashring._cy only: setup.py builds every native/*.pyx, so the others step
    aside (their extensions were copied)."""
    aside = Path(tempfile.mkdtemp(prefix="lab-gate-aside-"))
    others = [p for p in (tree / "native").glob("*.pyx") if p.name != "hashring.pyx"]
    try:
        for p in others:
            shutil.move(p, aside / p.name)
        done = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree,
                              capture_output=True, text=True)
    finally:
        for p in others:
            shutil.move(aside / p.name, p)
        shutil.rmtree(aside, ignore_errors=True)
    if done.returncode != 0:
        raise SelftestError(f"building the injected Cython tier failed:\n{done.stderr[-3000:]}")


def restore(tree: Path) -> None:
    """Remove the injection: the original sources and extension, as copied from this tree."""
    for name in (PURE_SOURCE, CYTHON_SOURCE):
        shutil.copy2(ROOT / name, tree / name)
    for built in (tree / "impls" / "hashring").glob("_cy*.so"):
        built.unlink()
    for built in (ROOT / "impls" / "hashring").glob("_cy*.so"):
        shutil.copy2(built, tree / built.relative_to(ROOT))
    for name in (PURE_BURN, CYTHON_BURN):
        (tree / name).unlink(missing_ok=True)


@dataclass
class Step:
    name: str
    #: None: a calibration step, whose exit says nothing
    expected_exit: int | None
    exit: int
    counts: dict[Key, float]
    stdout: str


def gate(tree: Path, name: str, expected_exit: int) -> Step:
    out = tree / "reports" / "selftest" / name
    done = subprocess.run([sys.executable, "-m", "bench.gate", "check", "--cell", str(PURE), "--cell", str(CYTHON),
                           "--no-wall", "--out", str(out)], cwd=tree, capture_output=True, text=True, timeout=1200)
    try:
        verdict = json.loads((out / "verdict.json").read_text())
    except FileNotFoundError:
        raise SelftestError(f"{name}: the gate wrote no verdict (exit {done.returncode}):\n"
                            f"{(done.stdout + done.stderr)[-3000:]}") from None
    counts = {Key(c["family"], c["case"], c["tier"]): c["head"] for c in verdict["cells"]}
    return Step(name, expected_exit, done.returncode, counts, done.stdout + done.stderr)


def check_failure_names(step: Step, base: dict[Key, float], factor: float) -> list[str]:
    """What is missing from a failing step's output (empty: both cells named as they should be)."""
    problems = []
    for key in (PURE, CYTHON):
        pattern = rf"FAIL {key.family} {key.case} {key.tier}: (\d+\.\d+)x .*{re.escape(MEASURE)}"
        found = re.search(pattern, step.stdout)
        if not found:
            problems.append(f"{step.name}: no FAIL line naming {key} with its ratio and measure")
            continue
        ratio = step.counts[key] / base[key]
        if abs(float(found.group(1)) - ratio) > 0.0015:
            problems.append(f"{step.name}: {key} printed {found.group(1)}x, counted {ratio:.3f}x")
        if not (factor - 0.02 <= ratio <= factor + 0.02):
            problems.append(f"{step.name}: {key} injected {factor}x but counted {ratio:.3f}x")
    return problems


def run(tree: Path, stream=sys.stderr) -> list[str]:
    """The selftest's steps in `tree` (a copy); the problems found (empty: it passed)."""
    def say(text: str) -> None:
        stream.write(text + "\n")
        stream.flush()

    problems: list[str] = []
    steps: list[Step] = []

    def step(name: str, expected: int | None) -> Step:
        s = gate(tree, name, expected)
        steps.append(s)
        shown = ", ".join(f"{k.tier} {v:,.1f}" for k, v in s.counts.items())
        say(f"selftest: {name:<12} gate exit {s.exit} (expected {'any' if expected is None else expected}); "
            f"Ir/call {shown}")
        if expected is not None and s.exit != expected:
            problems.append(f"{name}: the gate exited {s.exit}, expected {expected}:\n{s.stdout[-3000:]}")
        return s

    clean = step("clean", 0).counts
    say("selftest: injecting into Ring.lookup (pure and Cython) and rebuilding the Cython tier ...")
    inject(tree)
    zero = step("injected, 0", None).counts
    set_burn(tree, CALIBRATION, CALIBRATION)
    calibration = step(f"injected, {CALIBRATION}", None).counts
    fixed = {k: zero[k] - clean[k] for k in (PURE, CYTHON)}
    unit = {k: (calibration[k] - zero[k]) / CALIBRATION for k in (PURE, CYTHON)}
    say("selftest: the injection costs " + ", ".join(f"{k.tier} {fixed[k]:.0f} Ir + {unit[k]:.2f} Ir an iteration"
                                                    for k in (PURE, CYTHON)))
    for factor in (1.1, 2.0):
        extra = {}
        for k in (PURE, CYTHON):
            wanted = (factor - 1) * clean[k] - fixed[k]
            if wanted < unit[k]:
                raise SelftestError(f"the injection into {k} costs {fixed[k]:.0f} Ir with no iteration: more than "
                                    f"{factor}x of its {clean[k]:.0f}; it needs a cheaper form")
            extra[k] = round(wanted / unit[k])
        set_burn(tree, extra[PURE], extra[CYTHON])
        s = step(f"{factor}x", 1)
        problems += check_failure_names(s, clean, factor)
        for line in s.stdout.splitlines():
            if line.startswith("FAIL "):
                say(f"selftest:   {line}")
    restore(tree)
    step("removed", 0)
    say("\n| step | gate exit | expected | " + " | ".join(f"{k.tier} ratio to clean" for k in (PURE, CYTHON)) + " |")
    say("|---|---:|---:|" + "---:|" * 2)
    for s in steps:
        ratios = " | ".join(f"{s.counts[k] / clean[k]:.3f}" if k in s.counts else "—" for k in (PURE, CYTHON))
        say(f"| {s.name} | {s.exit} | {'any' if s.expected_exit is None else s.expected_exit} | {ratios} |")
    return problems


def main(keep: bool = False) -> int:
    started = time.monotonic()
    tree = Path(tempfile.mkdtemp(prefix="lab-gate-selftest-"))
    try:
        copy_tree(ROOT, tree)
        problems = run(tree)
    finally:
        if keep:
            print(f"the copy is kept at {tree}")
        else:
            shutil.rmtree(tree, ignore_errors=True)
    seconds = time.monotonic() - started
    if problems:
        print("SELFTEST FAILED:\n" + "\n".join(problems))
        return 1
    print(f"SELFTEST PASSED in {seconds:.0f} s: the gate failed on a 1.1x and a 2x slowdown of {PURE} and {CYTHON}, "
          f"naming family, case, tier, ratio and measure, and passed once they were removed.")
    return 0
