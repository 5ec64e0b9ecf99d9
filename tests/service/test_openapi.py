"""The document and the gateway agree: schemathesis (`st run --checks all`) generates requests
from GET /openapi.json -- valid orders and invalid ones, as JSON and as msgpack, with and
without an Idempotency-Key, every route and the methods it does not allow -- and checks each
answer: no 5xx, every status and header documented, every body as its schema says, valid
data accepted, invalid data refused.

It runs against a gateway of its own with a limit far above what it sends (a 429 would only
hide the order path). schemathesis_hooks.py teaches schemathesis msgpack and keeps generated
Idempotency-Keys apart; schemathesis.toml says which answers a valid order may get.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.load_processes import ROOT
from tests.service.conftest import service_args, topic_name
from tests.service.service_harness import running_service

pytestmark = pytest.mark.timeout(180)

HERE = Path(__file__).parent
#: Test cases per operation and phase: a few seconds here, hundreds of requests in all.
MAX_EXAMPLES = 200
#: The whole run, bounded (it takes a few seconds).
RUN_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def unlimited_service(redis_target, tmp_path_factory):
    from impls.workerpool.log import delete_topic

    topic = topic_name("redis")
    args = service_args("redis", redis_target.url, topic, "--limit-capacity", "1e9", "--limit-rate", "1e9")
    try:
        with running_service(*args, stderr_dir=tmp_path_factory.mktemp("openapi")) as service:
            yield service
    finally:
        delete_topic("redis", redis_target.url, topic)


def test_schemathesis_finds_no_server_error_and_no_contradiction_of_the_document(unlimited_service, tmp_path):
    command = [str(Path(sys.executable).with_name("st")), "--config-file", str(HERE / "schemathesis.toml"),
               "run", unlimited_service.http + "/openapi.json", "--checks", "all", "--max-examples",
               str(MAX_EXAMPLES), "--request-timeout", "10", "--generation-database", "none", "--no-color",
               "--output-sanitize", "false"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.service.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    report = run.stdout[-20000:] + run.stderr[-5000:]
    assert run.returncode == 0, f"schemathesis found problems (exit {run.returncode}):\n{report}"
    assert "No issues found" in run.stdout, report
    assert unlimited_service.alive(), unlimited_service.stderr_tail()
