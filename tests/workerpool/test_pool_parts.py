"""The pool's parts on their own: what may be committed, backpressure with hysteresis, per-key
lanes -- including the interleavings threads produce (property-based)."""

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impls.workerpool.flow import FlowControl, Watermarks
from impls.workerpool.lanes import KeyedLanes
from impls.workerpool.offsets import OffsetTracker


# --- offsets ------------------------------------------------------------------------------------

@given(st.lists(st.integers(0, 2), min_size=1, max_size=60).flatmap(
    lambda parts: st.tuples(st.just(parts), st.permutations(range(len(parts))))))
def test_only_the_contiguous_completed_prefix_is_ever_committable(case):
    """Whatever order messages complete in, a committed offset never passes one in flight,
    and once all are done every partition's last offset is committed."""
    partitions, completion_order = case
    tracker = OffsetTracker()
    fetched = []  # (partition, offset) in fetch order; offsets with gaps, as Kafka's may have
    next_offset = {p: 0 for p in range(3)}
    for p in partitions:
        next_offset[p] += 1 + p  # gaps: offsets compare by fetch order only
        fetched.append((p, next_offset[p]))
        tracker.track(p, next_offset[p])
    done: set = set()
    committed: dict = {}
    for i in completion_order:
        tracker.complete(*fetched[i])
        done.add(fetched[i])
        committed.update(tracker.take_committable())
        for p, last in committed.items():
            in_partition = [o for q, o in fetched if q == p]
            assert all((p, o) in done for o in in_partition if o <= last), "committed past a message in flight"
    for p in set(partitions):
        assert committed[p] == max(o for q, o in fetched if q == p)
    assert tracker.in_flight() == 0


def test_a_failed_commit_is_restored_and_a_revoked_partition_forgotten():
    tracker = OffsetTracker()
    for offset in (5, 6, 7):
        tracker.track(0, offset)
        tracker.track(1, offset)
    tracker.complete(0, 5)
    tracker.complete(1, 5)
    taken = tracker.take_committable()
    assert taken == {0: 5, 1: 5}
    tracker.restore(taken)  # the commit failed
    tracker.complete(0, 6)
    assert tracker.take_committable() == {0: 6, 1: 5}  # advanced further wins over the restored
    tracker.revoke(1)
    tracker.complete(1, 6)  # finished after the revoke: ignored, the new owner redoes it
    assert tracker.take_committable() == {} and tracker.partitions() == [0]


def test_a_redelivery_of_an_offset_in_flight_is_tracked_once():
    tracker = OffsetTracker()
    tracker.track("p0", "1-0")
    tracker.track("p0", "1-0")
    tracker.complete("p0", "1-0")
    assert tracker.take_committable() == {"p0": "1-0"} and tracker.in_flight() == 0


# --- flow -----------------------------------------------------------------------------------------

def test_backpressure_pauses_at_either_high_mark_and_resumes_below_both_low_marks():
    flow = FlowControl(Watermarks(max_messages=100, max_bytes=1000, resume_at=0.5))
    assert not flow.add(50, 500)
    assert flow.add(50, 100)  # 100 messages: the message mark
    flow.remove(40, 100)  # 60 messages, 500 bytes: above the low message mark
    assert flow.paused
    flow.remove(10, 0)  # 50 and 500: both at the low marks
    assert not flow.paused
    assert flow.add(1, 600)  # 1100 bytes: the byte mark
    flow.remove(51, 1100)
    assert flow.held == (0, 0) and (flow.peak_messages, flow.peak_bytes) == (100, 1100)
    with pytest.raises(RuntimeError, match="more left"):
        flow.remove(1, 0)


def test_a_paused_fetcher_waits_until_resumed():
    flow = FlowControl(Watermarks(max_messages=10, max_bytes=10**6))
    flow.add(10, 10)
    assert flow.wait_until_resumed(0.01) is False
    threading.Timer(0.05, flow.remove, (10, 10)).start()
    assert flow.wait_until_resumed(5.0) is True


@pytest.mark.parametrize("bad", [{"max_messages": 0}, {"max_bytes": -1}, {"resume_at": 1.0}, {"max_messages": 1.5}])
def test_watermarks_reject_what_cannot_bound_memory(bad):
    with pytest.raises(ValueError):
        Watermarks(**bad)


# --- lanes ----------------------------------------------------------------------------------------

def _key(message):
    return message[0]


def test_one_key_is_taken_by_one_worker_at_a_time_in_order():
    lanes = KeyedLanes(_key)
    lanes.put([("a", 1), ("b", 1), ("a", 2)])
    first = lanes.take(10, 0.1)
    assert first == [("a", 1), ("a", 2), ("b", 1)]
    lanes.put([("a", 3)])
    assert lanes.take(10, 0.01) == []  # a is busy until done
    lanes.done(first)
    assert lanes.take(10, 0.1) == [("a", 3)]


def test_a_parked_key_waits_its_backoff_while_other_keys_flow():
    lanes = KeyedLanes(_key)
    lanes.put([("poison", 1), ("poison", 2), ("ok", 1)])
    batch = lanes.take(1, 0.1)
    assert batch == [("poison", 1)]
    lanes.retry(batch, delay=0.2)
    started = time.monotonic()
    assert lanes.take(10, 0.1) == [("ok", 1)]
    again = lanes.take(10, 1.0)
    assert again == [("poison", 1), ("poison", 2)] and time.monotonic() - started >= 0.19


def test_a_revoked_partitions_queued_messages_are_discarded():
    lanes = KeyedLanes(_key)
    lanes.put([("a", 0), ("b", 1), ("a", 1)])
    dropped = lanes.discard(keep=lambda m: m[1] != 1)
    assert sorted(dropped) == [("a", 1), ("b", 1)] and len(lanes) == 1
    assert lanes.take(10, 0.1) == [("a", 0)]


@settings(deadline=None, max_examples=25)
@given(st.lists(st.integers(0, 7), min_size=1, max_size=200), st.integers(1, 4))
def test_workers_apply_every_key_in_order_and_never_two_at_once(keys, workers):
    """Threads take and finish batches concurrently: each key's messages come out exactly once,
    in the order put, and no two workers ever hold one key."""
    lanes = KeyedLanes(_key)
    applied: dict[int, list[int]] = {}
    holding: set = set()
    guard = threading.Lock()
    problems = []

    def work():
        while True:
            batch = lanes.take(5, 0.05)
            if not batch:
                if lanes_done.is_set():
                    return
                continue
            with guard:
                keys_here = {k for k, _ in batch}
                if keys_here & holding:
                    problems.append(f"keys {keys_here & holding} held twice")
                holding.update(keys_here)
            for k, seq in batch:
                applied.setdefault(k, []).append(seq)
            with guard:
                holding.difference_update(keys_here)
            lanes.done(batch)

    lanes_done = threading.Event()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    sequence: dict[int, int] = {}
    for k in keys:
        sequence[k] = sequence.get(k, 0) + 1
        lanes.put([(k, sequence[k])])
    while len(lanes):
        time.sleep(0.001)
    lanes_done.set()
    for t in threads:
        t.join(10)
    assert not problems
    assert applied == {k: list(range(1, n + 1)) for k, n in sequence.items()}
