"""What the pool's fault tests share: consumer processes (`python -m bench pool consume`) of
one group, the sink's applied count, waiting for it, and verify as the judge. A test module
defines a `setup` fixture (a dict: backend, url, redis_url, topic, group); the `consumers`
fixture of tests/workerpool/conftest.py starts processes for it and kills them at the end."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.pool import Workload, sink_name, verify
from impls.ratelimit.redis import connect
from impls.workerpool.sink import RedisSink


class Consumers:
    """Consumer processes of one group; every one still running is killed at the end. Each
    one's stderr goes to `<logs>/<name>.stderr` (`stderr_tail` shows it in a failure), or
    nowhere without `logs`."""

    def __init__(self, setup: dict, logs: Path | None = None):
        self.setup = setup
        self.logs = logs
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, *extra: str) -> subprocess.Popen:
        s = self.setup
        cmd = [sys.executable, "-m", "bench", "pool", "consume", "--backend", s["backend"], "--url", s["url"],
               "--redis-url", s["redis_url"], "--topic", s["topic"], "--group", s["group"], "--name", name,
               "--impl", "cython", "--max-deliveries", "2", *extra]
        if self.logs is None:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        else:
            with open(self.logs / f"{name}.stderr", "wb") as stderr:
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
        self.procs.append(proc)
        return proc

    def stderr_tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / f"{name}.stderr" if self.logs is not None else None
        return path.read_text(errors="replace")[-chars:] if path is not None and path.exists() else ""

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def applied_count(setup: dict) -> int:
    """Effects the group's sink has applied so far."""
    client = connect(setup["redis_url"], timeout=5.0)
    try:
        return RedisSink(client, sink_name(setup["topic"], setup["group"])).stats().get("applied", 0)
    finally:
        client.close()


def wait_applied(setup: dict, at_least: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = applied_count(setup)
        if count >= at_least:
            return count
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} applied within {timeout} s")


def verified(setup: dict, workload: Workload) -> dict:
    """verify's report, which must be ok: nothing lost, no effect twice, order kept, poison in the DLQ."""
    report = verify(setup["backend"], setup["url"], setup["redis_url"], setup["topic"], setup["group"], workload)
    assert report["ok"], report
    return report
