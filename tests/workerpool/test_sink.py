"""The Redis sink: an effect applied exactly once whatever is delivered again, refused from a
fenced owner, dedupe state bounded by the committed watermark -- on a real Redis."""

import uuid

import pytest

from impls.ratelimit.redis import connect
from impls.workerpool.sink import Effect, RedisSink


@pytest.fixture
def sink(redis_target):
    client = connect(redis_target.url, timeout=5.0)
    made = RedisSink(client, f"test-{uuid.uuid4().hex[:8]}")
    try:
        yield made
    finally:
        keys = list(client.scan_iter(match=made.base + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def _effects(partition, offsets, user=7, delta=5, key="u7"):
    return [Effect(partition, f"{o:020d}", user, delta, key) for o in offsets]


def test_a_redelivered_batch_changes_nothing(sink):
    epochs = {0: sink.claim(0)}
    first = sink.apply(_effects(0, [1, 2, 3]), epochs)
    again = sink.apply(_effects(0, [2, 3, 4]), epochs)  # a retry after a failed commit, and one new
    assert (first.applied, first.redelivered) == (3, 0)
    assert (again.applied, again.redelivered) == (1, 2)
    assert sink.positions() == {7: 20} and sink.counts() == {"u7": 4}
    assert sink.stats()["order_violations"] == 0


def test_a_fenced_owner_applies_nothing_after_the_new_owner_claimed(sink):
    old = {0: sink.claim(0), 1: sink.claim(1)}
    new = {0: sink.claim(0)}  # partition 0 was reassigned while the old owner was stopped
    refused = sink.apply(_effects(0, [1]) + _effects(1, [1], user=8, key="u8"), old)
    assert refused.fenced == frozenset({0}) and refused.applied == 1  # partition 1 is still the old owner's
    taken = sink.apply(_effects(0, [1]), new)
    assert taken.applied == 1 and not taken.fenced
    assert sink.positions() == {7: 5, 8: 5}


def test_a_partition_never_claimed_is_refused(sink):
    assert sink.apply(_effects(3, [1]), {3: 41}).fenced == frozenset({3})
    assert sink.positions() == {}


def test_committed_messages_leave_the_dedupe_state_and_stay_deduped(sink):
    epochs = {0: sink.claim(0)}
    sink.apply(_effects(0, range(100)), epochs)
    assert sink.dedupe_size(0) == 100
    assert sink.committed(0, f"{59:020d}") == 60
    assert sink.dedupe_size(0) == 40
    assert sink.committed(0, f"{10:020d}") == 0  # the watermark only advances
    assert sink.apply(_effects(0, [5, 70]), epochs).redelivered == 2  # below the mark, and above it
    assert sink.positions() == {7: 500}


def test_keys_applied_out_of_log_order_are_counted(sink):
    epochs = {0: sink.claim(0)}
    sink.apply(_effects(0, [5]), epochs)
    sink.apply(_effects(0, [3]), epochs)  # never happens in the pool: this is what verify would see
    assert sink.stats()["order_violations"] == 1


def test_a_dead_lettered_message_is_recorded_without_effect(sink):
    epochs = {0: sink.claim(0)}
    result = sink.apply([Effect(0, f"{1:020d}", 7, 5, "u7", dead=True)] + _effects(0, [2]), epochs)
    assert (result.applied, result.dead_lettered) == (1, 1)
    assert sink.apply([Effect(0, f"{1:020d}", 7, 5, "u7", dead=True)], epochs).redelivered == 1
    assert sink.positions() == {7: 5} and sink.stats()["dead_lettered"] == 1


def test_the_script_is_loaded_again_after_a_script_flush(sink, redis_target):
    if redis_target.external:
        pytest.skip("SCRIPT FLUSH is not ours to run on REDIS_URL's server")
    epochs = {0: sink.claim(0)}
    sink.apply(_effects(0, [1]), epochs)
    sink.client.script_flush()
    assert sink.apply(_effects(0, [2]), epochs).applied == 1


def test_a_sink_needs_a_name():
    with pytest.raises(ValueError, match="needs a name"):
        RedisSink(None, "")


def test_a_message_twice_in_one_batch_applies_once(sink):
    epochs = {0: sink.claim(0)}
    result = sink.apply(_effects(0, [1, 2, 2, 3]), epochs)  # delivered again while the first waited
    assert (result.applied, result.redelivered) == (3, 1)
    assert sink.positions() == {7: 15} and sink.stats()["order_violations"] == 0


def test_a_batch_larger_than_the_scripts_chunks_over_several_partitions(sink):
    # The script reads and writes in chunks of 1000 members: 2,500 effects cross two chunk edges.
    epochs = {p: sink.claim(p) for p in range(3)}
    effects = [Effect(o % 3, f"{o:020d}", o % 1200, 1, f"k{o % 1200}") for o in range(2500)]
    first = sink.apply(effects, epochs)
    again = sink.apply(effects[1000:1100] + [Effect(0, f"{9999:020d}", 1, 1, "k1")], epochs)
    assert (first.applied, first.redelivered) == (2500, 0)
    assert (again.applied, again.redelivered) == (1, 100)
    counts = sink.counts()
    assert len(counts) == 1200 and sum(counts.values()) == 2501 and counts["k1"] == 4
    assert sum(sink.positions().values()) == 2501 and sink.stats()["order_violations"] == 0
    assert sum(sink.dedupe_size(p) for p in range(3)) == 2501
