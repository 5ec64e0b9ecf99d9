"""Native CPU profiles of the compiled tiers: where the time goes *inside* Cython and Numba code.

pyinstrument (bench.profiling.profile) sees Python frames only, so a compiled tier's run is a few
opaque frames. Here py-spy samples a child process that loops the family's `profile_workload`
for a fixed time, with --native: it unwinds the C stack as well and names the Cython extension's
functions with their .pyx/.pxi files (setup.py compiles with Python's default `-g`, so the
extensions already carry symbols and line tables -- no special build, no slower code).

Numba's JIT code has no symbols an outside profiler can read: py-spy shows each sampled address
in it as a bare `0x7f... (?)` leaf right under the Python function that called the kernel (it
cannot unwind through JIT frames, so the dispatcher's C frames in between are lost too). So the
child, before it exits, writes where each compiled Numba function's code lies, and the folding
here names those addresses after the function whose machine code holds them (a kernel that
inlined another is one name: the inlined code is part of its caller's code).

What comes out, for each compiled tier, beside the pyinstrument HTML in OUT/profiles/:
`<family>-<tier>.native.svg`, a flame graph of the workload's samples (the child's start-up --
imports, Numba's cache, the warm-up -- left out), coloured so the tier's own compiled code stands
apart from Python and from other native code (the interpreter, numpy, libc); it has no script and
fetches nothing, so it opens offline. And `<family>-<tier>.native.folded.txt`, the same stacks as
folded lines (`frame;frame;... samples`) for flamegraph.pl, inferno or speedscope.

`python -m bench.native_profile --family F --impl T ...` is the child (see `main`).
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import re
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path
from xml.sax.saxutils import escape

from impls import registry

from bench.cases import family_module
from bench.lineup import Impl
from bench.profiling import THREAD_PROFILE_TIMEOUT_S, run_py_spy

#: Seconds the child loops the workload under py-spy (wall time, py-spy's pauses included).
#: pyinstrument's single pass of a compiled tier gave a handful of samples; at RATE this gives
#: 700-900, enough for a function at 1 % of the time to show. Start-up comes on top, sampled and
#: left out: in all, a Cython tier's child took 4-7 s here, a Numba tier's 10-14 s (importing
#: Numba and LLVM while py-spy unwinds every sample).
SAMPLE_SECONDS, QUICK_SAMPLE_SECONDS = 3.0, 1.0
#: Samples per second: each --native sample pauses the child to unwind its C stack, so more
#: mostly slows the child (bench.profiling.PY_SPY_RATE says the same of the drain).
RATE = 250

#: The frame every sample of the workload passes through (the child's loop); the rest is start-up.
LOOP_FUNCTION = "sample_workload"

PYTHON, COMPILED, NATIVE = "python", "compiled", "native"
#: The tier's own code: Cython sources (py-spy names the file of a C function from its line table).
CYTHON_SOURCES = (".pyx", ".pxi", ".pxd")
EXTENSION = re.compile(r"^impls/\w+/_cy\.[^/]*\.so$")
#: Labels of Numba's code (see `jit_code`): a kernel is the tier's own code, the runtime is not.
JIT_SUFFIX, RUNTIME_SUFFIX = " [numba JIT]", " [numba runtime]"
#: The root of a sample taken while the workload ran in which py-spy found no Python frame (it
#: could not unwind to the interpreter, e.g. from inside the garbage collector).
NOT_UNWOUND = "[no Python frame unwound]"


def applies(impl: Impl) -> bool:
    """Whether `impl` gets a native profile: a compiled tier (any tier but the specification)
    that the family's profile workload runs on."""
    applies_to = getattr(family_module(impl.family), "profile_applies", None)
    return impl.is_tier and impl.name != registry.SPEC_TIER and (applies_to is None or applies_to(impl))


def native_profile(impl: Impl, out_dir: Path, quick: bool = False, seconds: float | None = None) -> Path | None:
    """Write OUT/<family>-<tier>.native.svg (and .native.folded.txt) for a compiled tier; returns
    the SVG, or None where `applies` says no. Raises bench.profiling.ThreadProfileUnavailable where
    py-spy cannot run here, RuntimeError if the child failed."""
    if not applies(impl):
        return None
    seconds = seconds if seconds is not None else (QUICK_SAMPLE_SECONDS if quick else SAMPLE_SECONDS)
    with tempfile.TemporaryDirectory(prefix="lab-native-") as tmp:
        samples_path, report_path = Path(tmp) / "samples.json", Path(tmp) / "child.json"
        command = [sys.executable, "-m", "bench.native_profile", "--family", impl.family, "--impl", impl.name,
                   "--seconds", str(seconds), "--report", str(report_path)] + (["--quick"] if quick else [])
        # speedscope, not py-spy's own SVG: its samples come in time order, which tells the
        # workload from start-up and exit, and the Numba addresses are named before drawing.
        printed = run_py_spy(["--native", "--function", "--rate", str(RATE), "--format", "speedscope"], command,
                             samples_path, timeout=THREAD_PROFILE_TIMEOUT_S)
        if not report_path.exists():  # the child died before its report: py-spy's status does not say
            raise RuntimeError(f"the profiled child of {impl.family}/{impl.name} failed: {printed.strip()[-2000:]}")
        child = json.loads(report_path.read_text())
        stacks, dropped = fold(json.loads(samples_path.read_text()), JitCode(child["jit_code"]))
    if not stacks:
        raise RuntimeError(f"py-spy took no sample of the {impl.family}/{impl.name} workload: "
                           f"{printed.strip()[-500:]}")
    passes = child["passes"]
    notes = [f"{passes} pass{'es' if passes > 1 else ''} of bench.cases.{impl.family}.profile_workload(quick={quick}) "
             f"in {child['seconds']:.1f} s, sampled {RATE}/s; {sum(stacks.values())} samples of the workload shown, "
             f"{dropped} of the child's start-up and exit left out"]
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{impl.family}-{impl.name}.native"
    (out_dir / f"{stem}.folded.txt").write_text(
        "".join(f"{';'.join(label for label, _ in stack)} {n}\n" for stack, n in stacks.most_common()))
    svg = out_dir / f"{stem}.svg"
    svg.write_text(render_svg(stacks, f"{impl.family} / {impl.name}: native CPU profile (py-spy --native)", notes))
    return svg


# --- the child --------------------------------------------------------------------------------


def sample_workload(workload, impl: Impl, seconds: float, quick: bool) -> int:
    """Run `workload(impl, quick)` (a family's profile_workload, imported before: an import here
    would be sampled as the workload's) again and again for `seconds`, at least once; returns the
    passes. Its frame marks the samples `fold` keeps -- keep the name (LOOP_FUNCTION)."""
    deadline = time.perf_counter() + seconds
    passes = 0
    while passes == 0 or time.perf_counter() < deadline:
        workload(impl, quick)
        passes += 1
    return passes


def _executable_mappings() -> list[tuple[int, int]]:
    """(start, end) of every executable mapping of this process, from /proc/self/maps."""
    spans = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            span, perms = line.split()[:2]
            if "x" in perms:
                start, end = (int(part, 16) for part in span.split("-"))
                spans.append((start, end))
    return sorted(spans)


def jit_code() -> list[tuple[int, int, str]]:
    """(start, end, label) for the machine code Numba compiled in this process: every compiled
    function's entry point and CPython wrapper, labelled `<module>.<function> [numba JIT]`, each up
    to the end of the executable mapping that holds it (Numba maps each compiled library on pages
    of its own, and a library loaded from the cache keeps no list of its other functions); and
    each function of Numba's runtime library (NRT_incref, NRT_decref, ...), which Numba compiles
    at start-up and every kernel calls, labelled `<name> [numba runtime]`. Empty without Numba."""
    if "numba" not in sys.modules:
        return []
    from numba.core.dispatcher import Dispatcher
    from numba.core.runtime import nrt

    mappings = _executable_mappings()
    starts = [start for start, _ in mappings]
    code = []

    def add(address: int, label: str) -> None:
        i = bisect.bisect_right(starts, address) - 1
        if address and i >= 0 and address < mappings[i][1]:  # 0: the library has no such symbol
            code.append((address, mappings[i][1], label))

    # Every dispatcher, also those no module exposes (closures, Numba's own typed containers).
    for dispatcher in (obj for obj in gc.get_objects() if isinstance(obj, Dispatcher)):
        label = f"{dispatcher.py_func.__module__}.{dispatcher.py_func.__qualname__}{JIT_SUFFIX}"
        for compiled in list(dispatcher.overloads.values()):
            for symbol in (compiled.fndesc.llvm_func_name, compiled.fndesc.llvm_cpython_wrapper_name):
                add(compiled.library.get_pointer_to_function(symbol), label)
    try:
        runtime = nrt.rtsys.library
    except RuntimeError:  # the runtime was never initialised: no kernel ran
        return sorted(code)
    for function in runtime._final_module.functions:  # compiled in this process: its module is kept
        if not function.is_declaration:
            add(runtime.get_pointer_to_function(function.name), f"{function.name}{RUNTIME_SUFFIX}")
    # Runtime functions share one mapping; each ends where the next begins (`JitCode` picks the
    # nearest start below an address), so the mapping's end is right for the last one alone.
    return sorted(code)


def main(argv: list[str] | None = None) -> int:
    """The profiled child: load the tier, warm it up (Numba's compile or cache load is not the hot
    path), loop the workload, then write its report (passes, seconds, Numba's code map) as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.native_profile", description=main.__doc__)
    parser.add_argument("--family", required=True)
    parser.add_argument("--impl", required=True)
    parser.add_argument("--seconds", type=float, default=SAMPLE_SECONDS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args(argv)
    from bench import lineup

    impl = lineup.get(args.family, args.impl)
    workload = family_module(args.family).profile_workload
    impl.warmup()
    began = time.perf_counter()
    passes = sample_workload(workload, impl, args.seconds, args.quick)
    report = {"passes": passes, "seconds": time.perf_counter() - began, "jit_code": jit_code()}
    args.report.write_text(json.dumps(report))
    return 0


# --- folding py-spy's samples ----------------------------------------------------------------------

#: Cython's C names that py-spy leaves mangled (it demangles functions, not an extension type's
#: slots): __pyx_tp_<slot>_<len><part>_..._<name>, e.g. __pyx_tp_vectorcall_5impls_8hashring_3_cy_Ring.
CYTHON_MANGLED = re.compile(r"^__pyx_(?P<kind>tp_[a-z]+)_(?P<rest>\d.*)$")
#: Where a file's path is cut to a readable one (as py-spy does in its own flame graphs): the
#: repository, then the import path, longest first.
ROOTS = sorted({str(Path(__file__).resolve().parents[1]), *(p for p in sys.path if p.startswith("/"))},
               key=len, reverse=True)


class JitCode:
    """Labels a code address after the Numba code that holds it (see `jit_code`)."""

    def __init__(self, code: list[tuple[int, int, str]]):
        self._code = sorted(tuple(entry) for entry in code)
        self._starts = [start for start, _, _ in self._code]

    def name_at(self, address: int) -> str | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self._code[i][1]:
            return self._code[i][2]
        return None


def _cython_name(name: str) -> str:
    """A shorter name for a Cython C function: py-spy turns `__pyx_f_5impls_6serial_3_cy__parse`
    into `_cy__parse` (module `_cy`, function `_parse`): that becomes `_cy._parse`; a type's slot
    that py-spy left mangled loses its length-prefixed module path (`_cy.Ring [tp_vectorcall]`)."""
    mangled = CYTHON_MANGLED.match(name)
    if mangled:
        kind, rest, parts = mangled["kind"], mangled["rest"], []
        # Each part of the module path is <length><name>_; what follows the last is the type.
        while (digits := re.match(r"\d+", rest)) and rest[len(digits[0]) + int(digits[0]):][:1] == "_":
            end = len(digits[0]) + int(digits[0])
            parts.append(rest[len(digits[0]):end])
            rest = rest[end + 1:]
        return f"{parts[-1]}.{rest} [{kind}]" if parts and rest else name
    if name.startswith("_cy_"):  # every family's extension module is impls.<family>._cy (setup.py)
        return f"_cy.{name[len('_cy_'):]}"
    return name


def _short(path: str) -> str:
    """A file's path as the graph shows it: under the repository or the import path, from there
    (bench/cases/serial.py, numpy/...); a system library by its name (libc.so.6)."""
    for root in ROOTS:
        if path.startswith(root + "/"):
            return path[len(root) + 1:]
    return path.rsplit("/", 1)[-1] if path.startswith("/") else path


def frame_label(frame: dict, jit: JitCode) -> tuple[str, str]:
    """(label, kind) of one of py-spy's frames ({"name", "file", "line"}); kind is PYTHON, COMPILED
    (the tier's own code) or NATIVE. The line is left out, so a function is one box, not one per
    sampled line."""
    name, where = frame["name"], _short(frame.get("file") or "?")
    if name.startswith("0x"):  # an address py-spy found no symbol for
        if where == "?":  # in no file: code made at run time -- Numba's, if the child's map has it
            function = jit.name_at(int(name, 16))
            if function is None:
                return "[code without a symbol]", NATIVE
            return function, COMPILED if function.endswith(JIT_SUFFIX) else NATIVE
        return f"{where} (no symbol)", NATIVE  # a stripped library (libc): one box, not one per address
    # Cython's own helpers (__Pyx_..., in the generated .c or "View.MemoryView") are the
    # extension's code too -- but not a Cython module of numpy's (symbols only: where is a .so).
    # Without line tables (an interpreter built without -g) a frame of the extension is named by
    # its symbol in impls/<family>/_cy.<abi>.so.
    if (where.endswith(CYTHON_SOURCES) or (name.lower().startswith("__pyx") and ".so" not in where)
            or EXTENSION.match(where)):
        return f"{_cython_name(name)} ({where})", COMPILED
    if where.endswith(".py") or where.startswith("<"):
        return f"{name} ({where})", PYTHON
    return f"{name} ({where})", NATIVE


def fold(speedscope: dict, jit: JitCode) -> tuple[Counter, int]:
    """py-spy's samples (its speedscope JSON: per thread, the samples in time order, each a list
    of frame indices from the root) -> (Counter of label stacks, samples dropped).

    Kept: every sample from the first to the last that passes through the workload loop, from the
    frame above the loop on; a sample in that span that never reached Python (py-spy could not
    unwind to the interpreter) is kept whole, under NOT_UNWOUND. Dropped: the child's start-up
    and exit -- its interpreter's last garbage collection among them, which py-spy cannot unwind
    either, so only the time order tells it from the workload's.
    """
    frames = speedscope["shared"]["frames"]
    labels = [frame_label(frame, jit) for frame in frames]
    loop_frames = {i for i, frame in enumerate(frames)
                   if frame["name"] == LOOP_FUNCTION and frame.get("file", "").endswith("native_profile.py")}
    stacks: Counter = Counter()
    dropped = 0
    for thread in speedscope["profiles"]:
        samples = thread["samples"]
        loops = [next((depth for depth, i in enumerate(sample) if i in loop_frames), None) for sample in samples]
        inside = [k for k, depth in enumerate(loops) if depth is not None]
        first, last = (inside[0], inside[-1]) if inside else (len(samples), -1)
        dropped += len(samples) - max(0, last - first + 1)
        for sample, loop in zip(samples[first:last + 1], loops[first:last + 1]):
            if loop is None:
                above, labelled = sample, [(NOT_UNWOUND, NATIVE)]
            else:
                above, labelled = sample[loop + 1:], []
            for i in above:
                # A Cython def is two C functions, the Python wrapper and its body, both named for
                # the def: one box for the two.
                if not (labelled and labels[i] == labelled[-1] and labels[i][1] == COMPILED):
                    labelled.append(labels[i])
            if above:
                stacks[tuple(labelled)] += 1
            else:  # the loop's own bytecode, or a sample with no frame: nothing to draw
                dropped += 1
    return stacks, dropped


# --- the flame graph ------------------------------------------------------------------------------

WIDTH, ROW, FONT, CHAR = 1200, 16, 11, 6.6  # px; CHAR: a monospace character at FONT
HUE = {COMPILED: (0, 30, 75), PYTHON: (45, 60, 65), NATIVE: (195, 225, 35)}  # hue range, saturation
LEGEND = {COMPILED: "the tier's compiled code (Cython, Numba JIT)", PYTHON: "Python",
          NATIVE: "other native code (interpreter, numpy, libc)"}


def _colour(label: str, kind: str) -> str:
    low, high, saturation = HUE[kind]
    hue = low + zlib.crc32(label.encode()) % (high - low + 1)  # stable, so one function keeps its colour
    return f"hsl({hue},{saturation}%,62%)"


def render_svg(stacks: Counter, title: str, notes: list[str]) -> str:
    """A flame graph (root at the bottom, width = samples) of label stacks as a standalone SVG.
    Hovering a box shows its frame and samples (an SVG <title>: no script needed)."""
    tree: dict = {}
    for stack, n in stacks.items():
        level = tree
        for frame in stack:
            node = level.setdefault(frame, [0, {}])
            node[0] += n
            level = node[1]
    total = sum(stacks.values())
    own: Counter = Counter()
    for stack, n in stacks.items():
        own[stack[-1]] += n
    in_compiled = sum(n for stack, n in stacks.items() if any(kind == COMPILED for _, kind in stack))
    lines = [*notes, f"{100 * in_compiled / total:.0f} % of the samples are in the tier's compiled code "
                     "(a red box anywhere in the stack); most own samples:"]
    lines += [f"  {100 * n / total:5.1f} %  {label}" for (label, _), n in own.most_common(8)]
    header = 30 + 14 * len(lines) + 22
    depth = max(len(stack) for stack in stacks)
    height = header + ROW * depth + 10
    scale = (WIDTH - 20) / total
    out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
           f'height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="{FONT}">',
           '<rect width="100%" height="100%" fill="#fafaf6"/>',
           f'<text x="10" y="22" font-size="15">{escape(title)}</text>']
    out += [f'<text x="10" y="{42 + 14 * i}" xml:space="preserve">{escape(line)}</text>'
            for i, line in enumerate(lines)]
    x = 10
    for kind, text in LEGEND.items():
        out.append(f'<rect x="{x}" y="{header - 20}" width="12" height="12" fill="{_colour(text, kind)}"/>'
                   f'<text x="{x + 16}" y="{header - 10}">{escape(text)}</text>')
        x += 24 + CHAR * len(text)

    def draw(level: dict, left: float, row: int) -> None:
        for (label, kind), (n, children) in sorted(level.items(), key=lambda item: item[0][0]):
            width = n * scale
            if width >= 0.3:  # narrower boxes would only bloat the file
                y = height - 10 - ROW * (row + 1)
                tip = escape(f"{label}: {n} samples, {100 * n / total:.1f} %")
                out.append(f'<g><title>{tip}</title><rect x="{left:.2f}" y="{y}" width="{width:.2f}" '
                           f'height="{ROW - 1}" fill="{_colour(label, kind)}" rx="1"/>')
                fits = int((width - 6) / CHAR)
                if fits >= 3:
                    text = label if len(label) <= fits else label[:fits - 2] + ".."
                    out.append(f'<text x="{left + 3:.2f}" y="{y + ROW - 4}">{escape(text)}</text>')
                out.append("</g>")
                draw(children, left, row + 1)
            left += width

    draw(tree, 10.0, 0)
    out.append("</svg>\n")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
