"""The processes of a load run, always stopped: the gateway (`python -m bench serve`) and Locust
(one process, or a master and its workers), each pinned to its own CPUs, and what they cost.

* `running_service(...)` -- a context manager: the service on ephemeral ports, its ready line
  read, stopped by SIGTERM (SIGKILL if it lingers) when the block ends, on failure and Ctrl-C too.
* `run_locust(...)` -- one headless Locust run to its end (or stopped with the caller), its
  final stats (bench/locust/report.py) and the CPU its processes used while the users ran.
* `cpu_split()`, `pin_threads()` -- the service on one CPU, Locust on the others: so that the
  load generator never takes CPU from the service it measures, and each one's CPU use is its own.
* `cpu_seconds()`, `scrape()` -- the CPU time of a set of processes, and the service's counters.

Every child starts in a session of its own (a terminal's Ctrl-C reaches this process, which
stops them in order) and gets SIGTERM if this process dies without stopping them
(PR_SET_PDEATHSIG, as bench/backends/process.py does for the servers it starts).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.backends.process import _die_with_parent_hook, free_port

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILES = {"rest": ROOT / "bench" / "locust" / "rest.py", "grpc": ROOT / "bench" / "locust" / "grpc_user.py"}
#: The first start of a tier may compile Numba kernels or load their cache.
READY_TIMEOUT_S = 90.0
#: After SIGTERM the service shuts down gracefully (uvicorn, grpc, the log's producer) within this.
STOP_TIMEOUT_S = 15.0
#: Locust's own start (imports, gevent) is left out of its CPU figure: sampling starts this late.
LOCUST_BOOT_S = 1.5
#: A run that takes this much longer than asked is hung: it is stopped and reported.
LOCUST_GRACE_S = 60.0


def cpu_split() -> tuple[set[int], set[int]] | None:
    """(the service's CPUs, Locust's CPUs): the first allowed CPU and the rest; None with fewer
    than two CPUs (then nothing is pinned and the figures say so)."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None
    return {allowed[0]}, set(allowed[1:])


def pin_threads(pids: list[int], cpus: set[int]) -> None:
    """Pin every thread of each process to `cpus` (sched_setaffinity on a pid moves only its main
    thread; threads started later inherit from the thread that starts them)."""
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                os.sched_setaffinity(int(tid), cpus)


def child_setup(cpus: set[int] | None):
    """A preexec_fn: pin the child to `cpus` (its threads and children inherit it) and have it
    get SIGTERM if this process dies."""
    die = _die_with_parent_hook() if threading.current_thread() is threading.main_thread() else None

    def hook() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        if die is not None:
            die()

    return hook


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far."""
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def scrape(http: str) -> dict[tuple[str, frozenset], float]:
    """The service's /metrics: (sample name, labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{http}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def counted(metrics: dict, name: str, **labels: str) -> float:
    """The sum of a counter's samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (sample, found), value in metrics.items() if sample == name and wanted <= found)


# --- the service -----------------------------------------------------------------------------

class ServiceFailed(RuntimeError):
    """The service did not start (its log's tail is in the message)."""


@dataclass
class Service:
    """A running `bench serve`: its ready line, its process and its log (stderr)."""

    ready: dict
    process: subprocess.Popen
    log: Path
    args: tuple = ()  # the `bench serve` options it was started with

    http = property(lambda self: self.ready["http"])
    grpc = property(lambda self: self.ready["grpc"])
    service_pids = property(lambda self: self.ready["service_pids"])
    backend_pids = property(lambda self: self.ready["backend_pids"])
    backend = property(lambda self: self.ready["backend"])
    log_url = property(lambda self: self.ready["log_url"])
    redis_url = property(lambda self: self.ready["redis_url"])
    topic = property(lambda self: self.ready["topic"])
    partitions = property(lambda self: self.ready["partitions"])

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr_tail(self, chars: int = 3000) -> str:
        return _log_tail(self.log, chars)


def _log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _read_ready(process: subprocess.Popen, log: Path, timeout: float) -> dict:
    """The ready line (the one thing the service writes on stdout: nothing can fill the pipe
    after it), read without a thread, so that nothing of the service outlives its block."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServiceFailed(f"the service was not ready within {timeout:.0f} s; its log {log}:\n"
                                    f"{_log_tail(log)}")
            if not selector.select(min(left, 0.5)):
                continue
            line = process.stdout.readline()
            if not line:  # stdout closed: the service ended
                process.wait(STOP_TIMEOUT_S)
                raise ServiceFailed(f"the service exited with {process.returncode}; its log {log}:\n"
                                    f"{_log_tail(log)}")
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == "ready":
                    return event


def stop_service(process: subprocess.Popen, started: list[psutil.Process] = ()) -> int:
    """SIGTERM (it stops its servers and backends itself); if it lingers, SIGKILL to its group and
    to the processes its ready line named (`started`, taken while they were surely its own:
    psutil refuses to signal a pid reused since). Its exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for proc in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.is_running():
                proc.kill()
    return process.returncode


@contextlib.contextmanager
def running_service(*args: str, log: Path, cpus: set[int] | None = None,
                    ready_timeout: float = READY_TIMEOUT_S) -> Iterator[Service]:
    """`python -m bench serve --http-port 0 --grpc-port 0 *args`, its stderr in `log`, pinned with
    everything it starts (its embedded Redis and log broker too) to `cpus`; stopped on exit
    (ServiceFailed if it does not start)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bench", "serve", "--http-port", "0", "--grpc-port", "0", *args]
    started: list[psutil.Process] = []
    with open(log, "wb") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=log_file, text=True, start_new_session=True, preexec_fn=child_setup(cpus))
    try:
        ready = _read_ready(process, log, ready_timeout)
        for pid in ready["service_pids"] + ready["backend_pids"]:
            if pid != process.pid:
                with contextlib.suppress(psutil.NoSuchProcess):
                    started.append(psutil.Process(pid))
        if cpus:  # explicit, whatever a server does to its threads' affinity at start
            pin_threads(ready["service_pids"] + ready["backend_pids"], cpus)
        yield Service(ready, process, log, args)
    finally:
        stop_service(process, started)
        process.stdout.close()


# --- Locust ----------------------------------------------------------------------------------

@dataclass
class LocustRun:
    """What one headless Locust run is: the locustfile, target, users and duration, and where its
    files go (`prefix`.html, `prefix`_stats.csv ..., `prefix`.summary.json, `prefix`.log)."""

    transport: str                 # "rest" or "grpc": picks the locustfile
    host: str
    users: int
    seconds: float
    prefix: Path
    args: list[str] = field(default_factory=list)   # the locustfile's own (scenario, rate)
    workers: int = 0               # > 0: a master and this many worker processes
    csv: bool = True               # CSV and HTML reports (not for a warm-up)


@dataclass
class LocustResult:
    summary: dict                  # bench/locust/report.py's file
    loadgen_cpu: float             # CPU of the busiest Locust process, in cores, while users ran
    loadgen_cpu_total: float       # of all its processes together
    wall_s: float
    log: Path

    @property
    def saturated(self) -> bool:
        """Locust's CPU was (near) a full core, or Locust warned about it: its figures measure Locust."""
        return self.loadgen_cpu >= SATURATED_CORES or bool(self.summary.get("cpu_warning"))


#: A Locust process at or above this share of one core measures itself, not the service.
SATURATED_CORES = 0.9


def _locust_commands(run: LocustRun) -> list[list[str]]:
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILES[run.transport])]
    master = base + ["--headless", "-u", str(run.users), "-r", str(run.users), "-t", f"{run.seconds:g}s",
                     "--host", run.host, "--only-summary", "--summary-json", f"{run.prefix}.summary.json",
                     "--exit-code-on-error", "0", *run.args]
    if run.csv:
        master += ["--csv", str(run.prefix), "--html", f"{run.prefix}.html"]
    if run.workers <= 0:
        return [master]
    port = free_port()
    master += ["--master", "--expect-workers", str(run.workers), "--expect-workers-max-wait", "60",
               "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
    worker = base + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port), "--host", run.host,
                     *run.args]
    return [master] + [worker] * run.workers


def stop_processes(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each (Locust writes its reports), SIGKILL what is left after 10 s."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_locust(run: LocustRun, cpus: set[int] | None = None) -> LocustResult:
    """Run Locust to its end, pinned to `cpus`; its CPU is sampled from LOCUST_BOOT_S after the
    start to its last moment, per process (the busiest one is what saturates)."""
    run.prefix.parent.mkdir(parents=True, exist_ok=True)
    log = Path(f"{run.prefix}.log")
    summary_path = Path(f"{run.prefix}.summary.json")
    summary_path.unlink(missing_ok=True)
    processes: list[subprocess.Popen] = []
    first: dict[int, tuple[float, float]] = {}   # pid -> (time, CPU seconds) of its first sample
    last: dict[int, tuple[float, float]] = {}
    start = time.monotonic()
    with open(log, "wb") as log_file:
        try:
            for command in _locust_commands(run):
                processes.append(subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log_file,
                                                  stderr=subprocess.STDOUT, start_new_session=True,
                                                  preexec_fn=child_setup(cpus)))
            master = processes[0]
            deadline = start + run.seconds + LOCUST_GRACE_S + (60 if run.workers else 0)
            while master.poll() is None:
                now = time.monotonic()
                if now > deadline:
                    raise RuntimeError(f"Locust did not end within {now - start:.0f} s; its log {log}:\n"
                                       f"{_log_tail(log)}")
                if now - start >= LOCUST_BOOT_S:
                    for process in processes:
                        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
                            sample = (now, cpu_seconds([process.pid]))
                            first.setdefault(process.pid, sample)
                            last[process.pid] = sample
                time.sleep(0.2)
        finally:
            stop_processes(processes)
    if master.returncode not in (0, 1) or not summary_path.exists():
        raise RuntimeError(f"Locust failed (exit code {master.returncode}); its log {log}:\n{_log_tail(log)}")
    per_process = [(last[pid][1] - first[pid][1]) / max(last[pid][0] - first[pid][0], 1e-9) for pid in first]
    return LocustResult(json.loads(summary_path.read_text()), max(per_process, default=0.0), sum(per_process),
                        time.monotonic() - start, log)
