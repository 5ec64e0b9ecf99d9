"""Instructions per call of a gated cell, counted by callgrind: the gate's blocking measure.

Why instructions: wall time on these shared machines moves by tens of percent from run to
run; the instructions a program executes do not, if its binary, inputs and environment are
the same -- whatever else the machine is doing. What the gate does so that they are:

- **a fixed environment** (`environment`): the probe starts from nothing (env -i) with a
  fixed PATH, HOME, locale and time zone, `PYTHONHASHSEED=0` (str hashes, so dict and set
  layouts, the same every run) and one thread for every library that could start workers
  (OpenBLAS, OpenMP, Numba): a spinning worker's instructions would land in the count;
- **no address randomisation** (`setarch -R`);
- **the same entropy every run**: os.urandom, the seed of Python's `random` and the keys of
  Rust's hash maps (rpds, which jsonschema imports) come from getrandom(2); with a new seed
  each run those maps, and so the heap, took another shape, and the count of one loop moved
  by up to 0.2 % between two runs of one tree. The control library below defines getrandom
  and getentropy and is preloaded into the counted process only, so every run draws the same
  bytes;
- **an allocator whose cost does not depend on the heap's history**: a loop's objects are
  allocated and freed again; with pymalloc (and glibc's default tcache of 7 chunks a size)
  whether that emptied a pool or consolidated a chunk -- tens of instructions -- depended on
  what the process had allocated before, so an edit anywhere (another import, a longer path)
  moved a count by up to 1 %. The counted process uses glibc's malloc for every object
  (`PYTHONMALLOC=malloc`) with a per-size cache large enough to hold every chunk a loop frees
  (`glibc.malloc.tcache_count`), no trimming and a fixed mmap threshold: after the warm-up,
  every allocation of a loop is a pop and every free a push;
- **no code picked by the CPU model**: valgrind shows every host with AVX2 the same CPUID (a
  Haswell), and on top of that glibc's ifuncs are pinned to their SSE2 versions and its
  cache-size thresholds to fixed values (`GLIBC_TUNABLES`), numpy's dispatch to its compiled
  baseline (`NPY_DISABLE_CPU_FEATURES`: every dispatch target of the installed numpy) and
  Numba's code generation to a generic x86-64 (`NUMBA_CPU_NAME=generic`, which also empties
  its feature list), so the count does not depend on which machine of this kind runs it;
- **start-up left out**: valgrind starts with instrumentation off (`--instr-atstart=no`:
  imports, Numba's cache load and the warm-up run about 4x slower instead of 50x); the probe
  turns it on after warming up and has callgrind dump its counters around 1 loop and around
  11 loops, and (11 loops - 1 loop) / 10 is one loop without any constant cost;
- **Numba compiled outside valgrind**: a native `prime` run of the probe in the same
  environment fills the Numba cache that the counted run loads (compiling under valgrind
  takes minutes).

The client requests (start, dump, stop) come from valgrind's own header, compiled once into
a small library (`control_library`) that the probe calls through ctypes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from bench.gate.cells import Key

#: What the count is, as every verdict names it.
MEASURE = "instructions per call (callgrind Ir, 11 loops minus 1 loop)"

#: The probe's fixed HOME and the gate's Numba cache: fixed paths, the same in every clone,
#: so that nothing in the probe's environment depends on where the tree is.
STATE = Path(tempfile.gettempdir()) / "hotpath-lab-gate"

#: glibc's CPU features above SSE2 and its per-model preferences, masked (ifuncs pick SSE2).
_MASKED = ("AVX", "AVX2", "AVX512F", "AVX512VL", "AVX512BW", "AVX512DQ", "AVX512CD", "ERMS", "FSRM", "RTM",
           "BMI1", "BMI2", "LZCNT", "MOVBE", "POPCNT", "SSSE3", "SSE4_1", "SSE4_2", "XSAVEC", "FMA", "FMA4",
           "F16C", "Fast_Unaligned_Load", "Fast_Unaligned_Copy", "Fast_Copy_Backward", "Slow_BSF",
           "Prefer_PMINUB_for_stringop", "AVX_Fast_Unaligned_Load", "Fast_Rep_String")
GLIBC_TUNABLES = ":".join([
    "glibc.cpu.hwcaps=" + ",".join(f"-{name}" for name in _MASKED),
    "glibc.cpu.x86_data_cache_size=32768",
    "glibc.cpu.x86_shared_cache_size=1048576",
    "glibc.cpu.x86_non_temporal_threshold=786432",
    "glibc.cpu.x86_rep_movsb_threshold=2048",
    "glibc.cpu.x86_rep_stosb_threshold=2048",
    "glibc.malloc.tcache_count=65535",
    "glibc.malloc.trim_threshold=1073741824",
    "glibc.malloc.mmap_threshold=33554432",
    "glibc.malloc.arena_max=1",
])

_CONTROL_C = r"""
#include <stddef.h>
#include <sys/types.h>
#include <valgrind/callgrind.h>

/* Called by bench/gate/probe.py through ctypes: the gate's callgrind client requests. */
void gate_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void gate_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
void gate_dump(const char *label) { CALLGRIND_DUMP_STATS_AT(label); }
int gate_on_valgrind(void) { return RUNNING_ON_VALGRIND; }

/* Preloaded into the counted process: the same "random" bytes every run (xorshift64). */
static unsigned long long gate_entropy = 0x9E3779B97F4A7C15ULL;

ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
    unsigned char *out = buf;
    (void)flags;
    for (size_t i = 0; i < len; i++) {
        gate_entropy ^= gate_entropy << 13;
        gate_entropy ^= gate_entropy >> 7;
        gate_entropy ^= gate_entropy << 17;
        out[i] = (unsigned char)(gate_entropy >> 32);
    }
    return (ssize_t)len;
}

int getentropy(void *buf, size_t len) {
    getrandom(buf, len, 0);
    return 0;
}
"""


class GateError(RuntimeError):
    """The gate could not measure (a tool missing, a probe that failed): it cannot judge."""


def numpy_dispatch_targets() -> str:
    """Every SIMD target the installed numpy dispatches to (all disabled: its baseline only)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__

    return " ".join(__cpu_dispatch__)


def environment(preload: Path | None = None) -> dict[str, str]:
    """The probe's whole environment (see the module doc); `preload`, the control library,
    for the counted run only."""
    home = STATE / "home"
    home.mkdir(parents=True, exist_ok=True)
    return ({"LD_PRELOAD": str(preload)} if preload else {}) | {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONHASHSEED": "0",
        "PYTHONNOUSERSITE": "1",
        "PYTHONMALLOC": "malloc",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMBA_NUM_THREADS": "1",
        "NUMBA_CPU_NAME": "generic",
        "NUMBA_CACHE_DIR": str(STATE / "numba-cache"),
        "GLIBC_TUNABLES": GLIBC_TUNABLES,
        "NPY_DISABLE_CPU_FEATURES": numpy_dispatch_targets(),
    }


def valgrind_version() -> str:
    try:
        done = subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise GateError(f"valgrind is needed to count instructions ({exc}); on Debian: apt-get install valgrind") \
            from None
    return done.stdout.strip()


def control_library() -> Path:
    """The control library, compiled once per source text. It lives under STATE, not in the
    tree: its path is in the counted process's environment and arguments, whose length moves
    the heap's addresses, and CPython's type-attribute cache hashes by address (with it in
    the tree, the Numba cells of two copies of one tree differed by up to 0.2 %)."""
    digest = hashlib.sha256(_CONTROL_C.encode()).hexdigest()[:12]
    target = STATE / f"callgrind-control-{digest}.so"
    if target.exists():
        return target
    STATE.mkdir(parents=True, exist_ok=True)
    source = STATE / f"callgrind-control-{digest}.c"
    source.write_text(_CONTROL_C)
    partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    done = subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(partial), str(source)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise GateError(f"could not compile the callgrind control library (valgrind's headers come with "
                        f"Debian's valgrind package):\n{done.stderr[-2000:]}")
    partial.replace(target)  # atomic: a gate running beside this one sees all of it or nothing
    return target


def probe_command(key: Key, mode: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bench.gate.probe", key.family, key.case, key.tier, mode, *extra]


def _run(command: list[str], cwd: Path, what: str, timeout: float, preload: Path | None = None) -> str:
    try:
        done = subprocess.run(command, cwd=cwd, env=environment(preload), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise GateError(f"{what} took more than {timeout:.0f} s") from None
    if done.returncode != 0:
        raise GateError(f"{what} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def prime(key: Key, tree: Path) -> None:
    """Fill the Numba cache natively, in the counted run's environment (and check the cell)."""
    _run(probe_command(key, "prime"), tree, f"{key} (prime)", timeout=900)


_TOTALS = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)
_TRIGGER = re.compile(r"^desc: Trigger: Client Request: (.+)$", re.MULTILINE)


def read_dumps(out_dir: Path) -> dict[str, int]:
    """Trigger label -> total Ir, of every client-request dump in out_dir."""
    dumps = {}
    for path in sorted(out_dir.glob("callgrind.out.*")):
        text = path.read_text(errors="replace")
        trigger, totals = _TRIGGER.search(text), _TOTALS.search(text)
        if trigger and totals:
            dumps[trigger.group(1).strip()] = int(totals.group(1))
    return dumps


@dataclass(frozen=True)
class Count:
    key: Key
    ir_per_call: float
    #: the two counted regions: Ir of 1 loop and of 11 loops (each with one dump call)
    regions: dict[str, int]
    calls_per_loop: int
    #: the probe's fingerprint of the inputs (bench.gate.probe.inputs_digest)
    inputs: str


def count(key: Key, tree: Path, timeout: float = 900) -> Count:
    """Instructions per call of one cell of `tree`, under callgrind (see the module doc)."""
    if key.tier == "numba":
        prime(key, tree)
    control = control_library()
    with tempfile.TemporaryDirectory(prefix="lab-gate-cg-") as out:
        command = ["setarch", "-R", "valgrind", "--tool=callgrind", "--instr-atstart=no",
                   f"--callgrind-out-file={out}/callgrind.out", "--dump-line=no", "--dump-instr=no", "-q",
                   *probe_command(key, "count", "--control", str(control))]
        stdout = _run(command, tree, f"{key} under callgrind", timeout, preload=control)
        report = json.loads(stdout.strip().splitlines()[-1])
        dumps = read_dumps(Path(out))
    try:
        one, eleven = dumps["loops=1"], dumps["loops=11"]
    except KeyError:
        raise GateError(f"{key}: callgrind wrote no loop dumps (found {sorted(dumps)})") from None
    calls = report["calls_per_loop"]
    return Count(key, (eleven - one) / 10 / calls, {"loops=1": one, "loops=11": eleven}, calls, report["inputs"])
