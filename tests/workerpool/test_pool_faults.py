"""Faults, on both logs: consumers as real processes (`python -m bench pool consume`), killed
with SIGKILL at random moments, stopped past their session (SIGSTOP) and resumed, ended with
SIGTERM -- and `verify` the judge every time: nothing lost, no effect applied twice, per-key
order kept, poison in the dead-letter topic. Every process a test starts is killed at its end."""

import json
import random
import signal
import time
import uuid

import pytest

from bench.backends import kafka as kafka_backend
from bench.pool import Workload, produce
from tests.workerpool.pool_harness import applied_count, verified, wait_applied


@pytest.fixture(params=["kafka", "redis"])
def setup(request, redis_target):
    suffix = uuid.uuid4().hex[:8]
    if request.param == "kafka":
        url, topic = request.getfixturevalue("kafka_bootstrap"), f"{kafka_backend.LAB_TOPIC_PREFIX}faults.{suffix}"
    else:
        url, topic = redis_target.url, f"lab:faults:{suffix}"
    yield {"backend": request.param, "url": url, "redis_url": redis_target.url, "topic": topic,
           "group": f"g{suffix}"}


def test_kill_9_three_times_while_draining_loses_nothing_and_repeats_no_effect(setup, consumers):
    workload = Workload(count=200_000, keys=1000, poison_rate=0.001)
    produce(setup["backend"], setup["url"], setup["topic"], workload, partitions=4, progress=None)
    rng = random.Random(20261201)
    applied = 0
    for round_ in range(3):
        proc = consumers.start(f"c{round_}", "--idle-exit", "30")
        applied = wait_applied(setup, applied + 1, timeout=60)  # it is draining
        time.sleep(rng.uniform(0.2, 1.5))  # a random moment of the drain
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    last = consumers.start("last", "--idle-exit", "3")
    out, _ = last.communicate(timeout=240)
    assert last.returncode == 0
    report = verified(setup, workload)
    assert report["applied"] == report["expected"]
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["applied"] < report["expected"]  # the killed ones did real work before dying


def test_two_consumers_one_killed_the_other_finishes(setup, consumers):
    workload = Workload(count=60_000, keys=500)
    produce(setup["backend"], setup["url"], setup["topic"], workload, partitions=4, progress=None)
    survivor = consumers.start("survivor", "--idle-exit", "10", "--work-us", "5")
    victim = consumers.start("victim", "--idle-exit", "30", "--work-us", "5")
    wait_applied(setup, 5_000, timeout=60)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    out, _ = survivor.communicate(timeout=240)
    assert survivor.returncode == 0, out
    verified(setup, workload)


def test_a_consumer_stopped_past_its_session_is_fenced_when_it_resumes(setup, consumers):
    """SIGSTOP one consumer mid-drain for longer than its session (Kafka) or lease (Redis): the
    other takes its partitions; SIGCONT: whatever the resumed one still had in hand is refused
    by the sink (fenced), so no effect is applied twice."""
    workload = Workload(count=60_000, keys=500)
    produce(setup["backend"], setup["url"], setup["topic"], workload, partitions=4, progress=None)
    stalled = consumers.start("stalled", "--idle-exit", "30", "--work-us", "20")
    wait_applied(setup, 2_000, timeout=60)
    stalled.send_signal(signal.SIGSTOP)
    try:
        taker = consumers.start("taker", "--idle-exit", "5", "--work-us", "20")
        before = applied_count(setup)
        wait_applied(setup, before + 2_000, timeout=90)  # the taker works on the stalled one's partitions
        time.sleep(8)  # past the session timeout / lease: the stalled one no longer owns anything
    finally:
        stalled.send_signal(signal.SIGCONT)
    out, _ = taker.communicate(timeout=240)
    assert taker.returncode == 0, out
    # The resumed one rejoined the group and may hold partitions the taker gave up before it
    # went idle (on a busy machine it does): it drains them before it is told to stop, or what
    # it had not reached yet would be left in the log, not applied.
    wait_applied(setup, workload.count, timeout=120)
    stalled.send_signal(signal.SIGTERM)
    stalled.wait(30)
    verified(setup, workload)


def test_sigterm_at_full_speed_finishes_commits_and_exits(setup, consumers):
    workload = Workload(count=100_000, keys=1000)
    produce(setup["backend"], setup["url"], setup["topic"], workload, partitions=4, progress=None)
    proc = consumers.start("first", "--idle-exit", "30", "--drain-timeout", "0.8")
    wait_applied(setup, 10_000, timeout=60)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert proc.returncode == 0, out
    first = json.loads(out.strip().splitlines()[-1])
    second = consumers.start("second", "--idle-exit", "3")
    out, _ = second.communicate(timeout=240)
    report = verified(setup, workload)
    # What the first applied was committed: the second applied only the rest (no redeliveries
    # are applied twice either way; this shows the first's commit happened before it exited).
    assert first["applied"] + json.loads(out.strip().splitlines()[-1])["applied"] == report["expected"]
    print(f"SIGTERM to exit: {took:.2f} s")  # the figure belongs to the benchmarks; shown with -s
