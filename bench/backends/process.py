"""A server process the lab starts itself and always stops: the part every backend shares.

`ServerProcess` starts a server binary on 127.0.0.1 at an ephemeral port, in a temporary
directory of its own, waits until it answers, and stops it

* by `stop()` or leaving its `with` block (on success and on error);
* at interpreter exit (atexit), on SIGTERM and on Ctrl-C (SIGINT), for every server still
  running -- the handlers are installed by the first start, from the main thread, and then
  call whatever handler was there before;
* by the kernel, if this process dies without any of that (SIGKILL, a crash): a server
  started from the main thread gets SIGTERM when its parent dies (PR_SET_PDEATHSIG).

Each server runs in a process group of its own, so a terminal's Ctrl-C reaches the lab and
not the server, and stopping it (SIGTERM, then SIGKILL after 5 s) takes the whole group.
Fault tests crash it on purpose: `kill()` (SIGKILL to the group) keeps its port and directory,
and `restart()` starts it again on both, so a server that persists finds its data again. A
subclass says how to run its binary (`command`), how to tell that it answers (`answers`) and
that it could not bind its port (`port_taken`); bench/backends/redis.py and kafka.py are two.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.backends import on_run_end

STARTUP_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0

_PR_SET_PDEATHSIG = 1


def free_port(avoid: tuple[int, ...] = ()) -> int:
    """An ephemeral port on 127.0.0.1 that nobody listens on right now (never one of `avoid`:
    the well-known ports of servers the machine may run itself)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port


def accepts_connections(port: int) -> bool:
    """Whether something accepts a TCP connection on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.25):
            return True
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


class PortTaken(RuntimeError):
    """Another process bound the chosen port between choosing and binding: choose again."""


class ServerProcess:
    """A private server on 127.0.0.1 (see the module doc). Use as a context manager, or call
    start() and stop(); both are idempotent."""

    #: what the server is, for messages and the temporary directory's name
    name = "server"
    #: marks the lab's servers in /proc/<pid>/environ (tests look for leftovers by it)
    environ_marker = "LAB_SERVER"
    #: well-known ports the machine's own servers may use: never chosen
    avoid_ports: tuple[int, ...] = ()

    def __init__(self, executable: str, startup_timeout: float = STARTUP_TIMEOUT_S):
        self.executable = executable
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._dir: str | None = None

    # --- what a subclass says -------------------------------------------------------------
    def command(self, port: int, directory: Path, log: Path) -> list[str]:
        raise NotImplementedError

    def answers(self, port: int) -> bool:
        """Whether the server is ready for clients."""
        return accepts_connections(port)

    def port_taken(self, log_text: str) -> bool:
        return "Address already in use" in log_text

    # --- the life of the process ----------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self):
        if self.running:
            return self
        self.stop()  # a server that died (or was killed) before: its directory goes now
        _install_signal_handlers()
        last_error = ""
        for _ in range(5):  # another process may take the port between choosing and binding
            try:
                self._launch(free_port(self.avoid_ports))
                return self
            except PortTaken as exc:
                last_error = str(exc)
        raise RuntimeError(f"{self.name} could not bind a port on 127.0.0.1: {last_error}")

    def kill(self) -> None:
        """SIGKILL the server's process group, as a crash would end it (no shutdown, no final
        save), and wait for it; its port and directory are kept for `restart()` (and the
        directory is deleted by `stop()`, or at exit, as ever)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()

    def restart(self):
        """Start the server again after `kill()` (or a crash) on the same port, in the same
        directory -- what it persisted there is loaded again -- and wait until it answers. (If
        it does not, it is stopped as a failed start is: its directory goes too.)"""
        if self.running:
            raise RuntimeError(f"{self.name} is running: kill() it before restart()")
        if self.port is None or self._dir is None:
            raise RuntimeError(f"{self.name} was never started (or was stopped): nothing to restart")
        _install_signal_handlers()
        self._launch(self.port, self._dir)  # PortTaken if another process took the port meanwhile
        return self

    def _launch(self, port: int, directory: str | None = None) -> None:
        self._dir = directory or tempfile.mkdtemp(prefix=f"lab-{self.name}-")
        log = Path(self._dir) / f"{self.name}.log"
        main = threading.current_thread() is threading.main_thread()
        with open(log, "ab") as log_file:  # a restart appends to the log of the runs before
            self._proc = subprocess.Popen(
                self.command(port, Path(self._dir), log), cwd=self._dir, stdin=subprocess.DEVNULL,
                stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as a group, spared the terminal's Ctrl-C
                preexec_fn=_die_with_parent_hook() if main else None,  # a worker thread may end first
                env={**os.environ, self.environ_marker: "1"},
            )
        self.port = port
        _live.add(self)
        deadline = time.monotonic() + self.startup_timeout
        try:
            while not self.answers(port):
                if self._proc.poll() is not None:
                    text = log.read_text(errors="replace") if log.exists() else ""
                    if self.port_taken(text):
                        raise PortTaken(text[-300:])
                    raise RuntimeError(f"{self.name} exited with {self._proc.returncode}:\n{text[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not answer within {self.startup_timeout} s")
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


class SharedServer:
    """One server of a kind per process, for long-lived tools (the bench harness): started on
    first use by `get()`, stopped by `stop()` -- which bench.backends.shared_servers() calls when
    a run ends -- or at exit."""

    def __init__(self, make: Callable[[], ServerProcess]):
        self._make = make
        self._lock = threading.Lock()
        self.server: ServerProcess | None = None
        on_run_end(self.stop)

    def get(self) -> ServerProcess:
        with self._lock:
            if self.server is None or not self.server.running:
                self.server = self._make().start()
            return self.server

    def stop(self) -> None:
        with self._lock:
            if self.server is not None:
                self.server.stop()
                self.server = None


# ---------------------------------------------------------------------------------------
# Stopping whatever is still running: at exit, on SIGTERM, on Ctrl-C
# ---------------------------------------------------------------------------------------
_live: set[ServerProcess] = set()
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
