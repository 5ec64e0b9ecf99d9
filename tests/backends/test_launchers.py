"""What every server the lab starts must do (bench.backends.process): answer on 127.0.0.1 at an
ephemeral port, and never survive -- stop(), the end of a with block, a failure inside it,
`python -m bench <server>` ended by SIGTERM or Ctrl-C, or its parent SIGKILLed."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.backends.kafka import KafkaBroker
from bench.backends.redis import RedisServer
from tests.backends.processes import alive, gone_within, kill_all, running_under

LAUNCHERS = {"redis": RedisServer, "kafka": KafkaBroker}


@pytest.fixture(params=sorted(LAUNCHERS))
def launcher(request):
    return request.param


def test_start_answers_and_stop_leaves_nothing(launcher, monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    with LAUNCHERS[launcher]() as server:
        pid, directory = server.pid, server._dir
        assert server.answers(server.port) and server.port not in server.avoid_ports
        assert running_under(tmp_path) == [pid]
    assert gone_within(pid, 10) and not Path(directory).exists()
    assert running_under(tmp_path) == []
    server.stop()  # idempotent


def test_a_failing_block_still_stops_the_server(launcher):
    with pytest.raises(RuntimeError, match="boom"):
        with LAUNCHERS[launcher]() as server:
            pid = server.pid
            raise RuntimeError("boom")
    assert gone_within(pid, 10)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_python_m_bench_serves_until_stopped_and_takes_its_server_along(launcher, how, tmp_path):
    """SIGTERM/SIGINT: the handlers stop it; SIGKILL: the kernel sends it SIGTERM (PDEATHSIG)."""
    child = subprocess.Popen([sys.executable, "-m", "bench", launcher], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        address = child.stdout.readline().strip()
        assert address.startswith(("redis://127.0.0.1:", "127.0.0.1:")), address
        servers = [pid for pid in running_under(tmp_path) if pid != child.pid]
        assert len(servers) == 1 and alive(servers[0])
        child.send_signal(how)
        child.wait(timeout=30)
        assert gone_within(servers[0], 10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        kill_all(running_under(tmp_path))
