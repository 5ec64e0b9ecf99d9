"""CPU profiles: one pyinstrument HTML per implementation of a family, and, for a family whose
work runs in threads of its own, one py-spy flamegraph (SVG) of every thread per tier.

Each family's cases module has `profile_workload(impl, quick)`: a short, representative life
of the structure (build, lookups, churn), profiled in this process by pyinstrument. Compiled
tiers show as a few opaque frames -- that is the point: the time left in Python frames is what
a tier did not take away. Where that time goes inside the compiled code is the native
profile's to show: beside the HTML of a compiled tier, `profile` writes a py-spy --native flame
graph of the same workload (bench.native_profile). A family may also have
`thread_profile_workload(impl, quick)` (see `profile_threads`): a child process that py-spy
samples from outside, every thread of it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from pyinstrument import Profiler

from bench.cases import family_module
from bench.lineup import Impl
from bench.web import offline


def profile(impl: Impl, out_dir: Path, quick: bool = False, native: bool = True) -> Path | None:
    """The HTML profile of the family's workload on `impl`; None for an implementation the
    workload does not run: a backend (its time is the server's, profiled by the server), or one
    the family's optional `profile_applies(impl)` turns down. With `native`, a compiled tier
    also gets its native profile beside the HTML (see `profile_native`)."""
    family = family_module(impl.family)
    applies = getattr(family, "profile_applies", None)
    if impl.is_backend or (applies is not None and not applies(impl)):
        return None
    workload = family.profile_workload
    impl.warmup()  # compile time is not what a profile of the hot path should show
    profiler = Profiler(interval=0.0005)
    profiler.start()
    workload(impl, quick)
    profiler.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{impl.family}-{impl.name.replace(':', '-')}.html"
    path.write_text(offline.without_web_fonts(profiler.output_html()))  # opens offline, fetching nothing
    if native:
        profile_native(impl, out_dir, quick)
    return path


def profile_native(impl: Impl, out_dir: Path, quick: bool = False) -> Path | None:
    """The native flame graph of a compiled tier (bench.native_profile), said on stdout; where
    py-spy cannot run here, said on stderr and None: the pyinstrument profile stands alone then.
    Called from `profile`, so every caller of it (`bench profile`) gets both files."""
    from bench import native_profile  # imported here: it imports this module's py-spy runner

    if not native_profile.applies(impl):
        return None
    try:
        svg = native_profile.native_profile(impl, out_dir, quick)
    except ThreadProfileUnavailable as exc:
        print(f"{impl.family} {impl.name}: no native profile (py-spy), the pyinstrument one alone: {exc}",
              file=sys.stderr)
        return None
    print(f"{impl.family} {impl.name} (native, py-spy): {svg}")
    return svg


# --- every thread: py-spy over a child process ------------------------------------------------
#
# pyinstrument samples only the thread that started it; a workload whose work happens in worker
# threads and in native code (the worker pool: its workers, the Redis client, librdkafka) leaves
# that thread waiting. py-spy samples every thread of a process from outside, Python and native
# frames, so such a workload runs in a child process that py-spy starts (tracing one's own child
# needs no privileges where tracing another process may).

#: Samples per second. With --native each sample unwinds every thread's C stack as well: at 250/s
#: a 30k-message drain ran about as fast as unprofiled here (at 1000/s, six times slower), and
#: gave a few hundred samples.
PY_SPY_RATE = 250
#: A child that runs longer than this is stopped: a profile is a short life of the workload.
THREAD_PROFILE_TIMEOUT_S = 600.0


class ThreadProfileUnavailable(RuntimeError):
    """py-spy is not installed, or could not sample its child on this machine (the message says
    which, with py-spy's own words)."""


def py_spy_executable() -> str:
    """py-spy next to this interpreter (a venv's bin/, on PATH or not), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("py-spy")
    if found is None:
        raise ThreadProfileUnavailable("py-spy is not installed (it is in the bench extra: pip install -e '.[bench]')")
    return found


def run_py_spy(record_args: list[str], command: list[str], output: Path,
               timeout: float = THREAD_PROFILE_TIMEOUT_S) -> str:
    """Run `py-spy record RECORD_ARGS --output OUTPUT -- COMMAND`, which must write `output`;
    returns what py-spy and the child printed (stdout and stderr). Raises ThreadProfileUnavailable
    if py-spy is missing or failed (e.g. not allowed to trace); what the child did is the
    caller's to check -- py-spy's exit status does not say. py-spy and the child run in a process
    group of their own, stopped on timeout, error or Ctrl-C."""
    args = [py_spy_executable(), "record", *record_args, "--output", str(output)]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    proc = subprocess.Popen([*args, "--", *command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
    try:
        printed, _ = proc.communicate(timeout=timeout)
    except BaseException:  # the timeout, Ctrl-C: never leave py-spy or its child behind
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        raise
    if proc.returncode != 0 or not output.exists() or output.stat().st_size == 0:
        raise ThreadProfileUnavailable(f"py-spy could not profile {' '.join(command[:4])} ... (exit status "
                                       f"{proc.returncode}): {printed.strip()[-1500:]}")
    return printed


def thread_profile(command: list[str], svg: Path, rate: int = PY_SPY_RATE, native: bool = True,
                   timeout: float = THREAD_PROFILE_TIMEOUT_S) -> Path:
    """Run `command` as py-spy's child and write an SVG flamegraph of every thread of it (one
    tower per thread; Cython and C frames too with `native`) to `svg`; returns `svg`.

    The flamegraph is self-contained (inline script, no asset fetched), so it opens offline.
    Idle threads (waiting on a socket or a lock) are left out, as py-spy does by default: the
    graph is where the CPU went. Raises ThreadProfileUnavailable as run_py_spy does.
    """
    args = ["--threads", "--function", "--rate", str(rate), "--format", "flamegraph"]
    if native:
        args.append("--native")
    run_py_spy(args, command, svg, timeout)
    return svg


def profile_threads(impl: Impl, out_dir: Path, quick: bool = False) -> Path | None:
    """The py-spy flamegraph of the family's threaded workload on a tier: OUT/<family>-<what>-<tier>.svg,
    for a family whose cases module has `thread_profile_workload(impl, quick)` -- a context manager
    that prepares what the child needs, yields (what, command) and, after the child ran, checks
    and cleans up. None for other families and for backends and peers. Raises
    ThreadProfileUnavailable where py-spy cannot run (see thread_profile)."""
    workload = getattr(family_module(impl.family), "thread_profile_workload", None)
    if workload is None or not impl.is_tier:
        return None
    with workload(impl, quick) as (what, command):
        return thread_profile(command, out_dir / f"{impl.family}-{what}-{impl.name}.svg")
