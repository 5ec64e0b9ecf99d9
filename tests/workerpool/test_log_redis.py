"""The pool's log on Redis Streams (impls.workerpool.log_redis) against the lab's Redis: order per
partition, commits that survive the consumer, redelivery with its count, partitions moving
between consumers by leases, pause, dead letters, lag, trimming. Every test works in a topic
of its own under "lab:", deleted at its end."""

import uuid

import pytest

from impls.ratelimit.redis import connect
from impls.workerpool import log_redis
from impls.workerpool.log import (TopicNotFound, create_topic, delete_topic, open_log, open_producer,
                                  partition_for)
from tests.workerpool.log_harness import (ChangeRecord, Fetched, assert_in_log_order, assert_lag_follows_commits,
                                          last_offsets, produce_keyed)

# Short leases so that ownership moves within about a second (the default is 4 s).
FAST = {"lease_time": 1.0, "renew_interval": 0.1}


@pytest.fixture
def url(redis_target):
    return redis_target.url


@pytest.fixture
def client(url):
    c = connect(url, 2.0)
    yield c
    c.close()


@pytest.fixture
def topics(url):
    """make(partitions) -> a new topic under "lab:"; all deleted at the end."""
    made = []

    def make(partitions: int) -> str:
        name = f"lab:test:log:{uuid.uuid4().hex[:8]}"
        create_topic("redis", url, name, partitions)
        made.append(name)
        return name

    yield make
    for name in made:
        delete_topic("redis", url, name)


def _log(opened, url, topic, group, name, **tuning):
    return opened.keep(open_log("redis", url, topic, group, name, **{**FAST, **tuning}))


def _produce(opened, url, topic, partitions, n, keys, start=0):
    producer = opened.keep(open_producer("redis", url, topic, partitions))
    return produce_keyed(producer, n, keys, start)


def test_one_consumer_reads_every_message_in_order_and_its_commits_survive_it(opened, url, topics, client):
    topic = topics(4)
    sent = _produce(opened, url, topic, 4, 2000, keys=50)
    first = _log(opened, url, topic, "g", "a")
    fetched = Fetched([first]).until(lambda f: len(f[first]) >= 2000, 20, "all 2000 fetched")
    got = fetched[first]
    assert sorted((m.key, m.value) for m in got) == sorted(sent) and len(got) == 2000
    assert_in_log_order(got, 4)
    assert {m.deliveries for m in got} == {1}
    assert all(m.sort_key == "%020d-%020d" % log_redis.parse_id(m.offset) for m in got)  # the stream's order as a string
    first.commit(last_offsets(got))
    first.close()
    assert sum(client.xpending(log_redis.stream_key(topic, p), "g")["pending"] for p in range(4)) == 0

    second = _log(opened, url, topic, "g", "b")
    again = Fetched([second]).until(lambda f: second.assignment() == {0, 1, 2, 3}, 5, "b owns all").during(0.5)
    assert again[second] == []  # nothing old
    _produce(opened, url, topic, 4, 1, keys=1, start=2000)
    again.until(lambda f: len(f[second]) == 1, 5, "the new message")
    assert again[second][0].value == b"2000"


@pytest.mark.parametrize("restart", ["another consumer", "the same name after a crash"])
def test_an_uncommitted_message_is_redelivered_with_deliveries_2(opened, url, topics, restart):
    topic = topics(1)
    _produce(opened, url, topic, 1, 10, keys=3)
    first = _log(opened, url, topic, "g", "a")
    fetched = Fetched([first]).until(lambda f: len(f[first]) == 10, 10, "10 fetched")
    first.commit({0: fetched[first][3].offset})  # the first four are done, six are not
    if restart == "another consumer":
        first.close()
        second = _log(opened, url, topic, "g", "b")
    else:  # never closed: its lease is still there, and its own name gets it back at once
        second = _log(opened, url, topic, "g", "a")
    again = Fetched([second]).until(lambda f: len(f[second]) >= 6, 10, "the six redelivered").during(0.3)
    assert [m.offset for m in again[second]] == [m.offset for m in fetched[first][4:]]
    assert {m.deliveries for m in again[second]} == {2}


def test_two_consumers_split_the_partitions_and_a_closing_ones_go_to_the_other(opened, url, topics):
    topic = topics(4)
    a, b = _log(opened, url, topic, "g", "a"), _log(opened, url, topic, "g", "b")
    changes_a, changes_b = ChangeRecord.on(a), ChangeRecord.on(b)
    both = Fetched([a, b]).until(lambda f: len(a.assignment()) == 2 and len(b.assignment()) == 2, 10, "2 + 2")
    assert a.assignment() | b.assignment() == {0, 1, 2, 3}
    changes_a.calls.clear()  # (a, first to fetch, took all four, then gave two to b)
    changes_b.calls.clear()
    _produce(opened, url, topic, 4, 400, keys=40)
    both.until(lambda f: len(f.all) == 400, 10, "all 400 fetched once")
    assert {m.partition for m in both[a]} <= a.assignment() and {m.partition for m in both[b]} <= b.assignment()
    b.commit(last_offsets(both[b]))  # b is done with its own; a finishes nothing
    a_partitions, a_had = a.assignment(), list(both[a])
    a.close()
    assert changes_a.revoked == a_partitions  # the pool hears of it before the partitions move
    after = Fetched([b]).until(lambda f: len(f[b]) >= len(a_had), 10, "a's messages redelivered to b")
    assert b.assignment() == {0, 1, 2, 3} and changes_b.calls == [({p}, set()) for p in sorted(a_partitions)]
    assert sorted((m.partition, m.sort_key) for m in after[b]) == sorted((m.partition, m.sort_key) for m in a_had)
    assert {m.deliveries for m in after[b]} == {2}
    assert_in_log_order(after[b], 4)


def test_a_consumer_that_stops_renewing_loses_its_partitions_to_the_other(opened, url, topics):
    topic = topics(2)
    a, b = _log(opened, url, topic, "g", "a"), _log(opened, url, topic, "g", "b")
    changes_a = ChangeRecord.on(a)
    Fetched([a, b]).until(lambda f: len(a.assignment()) == 1 and len(b.assignment()) == 1, 10, "1 + 1")
    changes_a.calls.clear()
    _produce(opened, url, topic, 2, 50, keys=10)
    both = Fetched([a, b]).until(lambda f: len(f.all) == 50, 10, "all 50 fetched")
    lost, a_had = a.assignment(), both[a]
    assert a_had
    # a stops calling fetch (a stuck pool): its lease and heartbeat expire, b takes over
    taken = Fetched([b]).until(lambda f: len(f[b]) >= len(a_had), 5, "a's messages go to b")
    assert b.assignment() == {0, 1}
    assert [m.offset for m in taken[b]] == [m.offset for m in a_had]
    assert {m.deliveries for m in taken[b]} == {2}
    a.fetch(10, 0.05)  # a wakes up: it hears, after the fact, that the partition is gone
    assert changes_a.revoked == lost and not (a.assignment() & lost)


def test_entries_stranded_in_another_consumers_pending_list_are_taken_back(opened, url, topics, client):
    topic = topics(1)
    log = _log(opened, url, topic, "g", "a")
    changes = ChangeRecord.on(log)
    _produce(opened, url, topic, 1, 5, keys=2)
    Fetched([log]).until(lambda f: len(f[log]) == 5, 5, "5 fetched, not committed")
    changes.calls.clear()
    _produce(opened, url, topic, 1, 3, keys=2, start=5)
    # a former owner that stalled past its lease reads three entries of a partition it lost
    client.xreadgroup("g", "stalled", {log_redis.stream_key(topic, 0): ">"}, count=3)
    again = Fetched([log]).until(lambda f: len(f[log]) >= 8, 5, "everything pending redelivered").during(0.3)
    assert changes.calls == [(set(), {0}), ({0}, set())]  # reported as a take-over
    assert [m.value for m in again[log]] == [str(i).encode() for i in range(8)]
    assert {m.deliveries for m in again[log]} == {2}


def test_pause_stops_delivery_while_fetch_keeps_the_leases(opened, url, topics):
    topic = topics(2)
    a, b = _log(opened, url, topic, "g", "a"), _log(opened, url, topic, "g", "b")
    changes_a, changes_b = ChangeRecord.on(a), ChangeRecord.on(b)
    both = Fetched([a, b]).until(lambda f: len(a.assignment()) == 1 and len(b.assignment()) == 1, 10, "1 + 1")
    mine = a.assignment()
    changes_a.calls.clear()
    changes_b.calls.clear()
    a.pause(mine)
    sent = _produce(opened, url, topic, 2, 100, keys=20)
    both.during(2.5)  # 2.5 lease times
    assert not any(m.partition in mine for m in both.all)  # not to a, not to b
    assert a.assignment() == mine and changes_a.calls == changes_b.calls == []  # nothing moved
    a.resume(mine)
    expected = sum(1 for key, _ in sent if partition_for(key, 2) in mine)
    both.until(lambda f: len(f[a]) == expected, 5, "a's messages after resume")
    assert_in_log_order(both[a], 2)


def test_a_dead_letter_lands_in_the_dlq_with_its_reason(opened, url, topics, client):
    topic = topics(2)
    _produce(opened, url, topic, 2, 5, keys=5)
    log = _log(opened, url, topic, "g", "a")
    fetched = Fetched([log]).until(lambda f: len(f[log]) == 5, 10, "5 fetched")
    poison = fetched[log][2]
    log.dead_letter(poison, "cannot parse: bad json")
    ((_, fields),) = client.xrange(log_redis.dead_letter_key(topic))
    assert fields == {b"key": poison.key, b"value": poison.value, b"reason": b"cannot parse: bad json",
                      b"partition": str(poison.partition).encode(), b"offset": poison.offset.encode()}


def test_lag_counts_what_the_group_has_not_committed_in_the_owned_partitions(opened, url, topics):
    topic = topics(2)
    sent = _produce(opened, url, topic, 2, 100, keys=20)
    log = _log(opened, url, topic, "g", "a")
    assert_lag_follows_commits(log, sent, 5, 0.2)


def test_commits_trim_only_what_every_group_has_acknowledged(opened, url, topics, client):
    topic = topics(1)
    stream = log_redis.stream_key(topic, 0)
    _produce(opened, url, topic, 1, 10, keys=2)
    exact = {"trim_interval": 0.0, "trim_approximate": False}
    fast = _log(opened, url, topic, "fast", "a", **exact)
    slow = _log(opened, url, topic, "slow", "a", **exact)
    done = Fetched([fast]).until(lambda f: len(f[fast]) == 10, 5, "fast reads all")
    fast.commit(last_offsets(done[fast]))
    assert client.xlen(stream) == 10  # slow has read nothing yet
    half = Fetched([slow]).until(lambda f: len(f[slow]) >= 5, 5, "slow reads", batch=5)
    slow.commit({0: half[slow][2].offset})  # three acknowledged, the rest of its five pending
    assert client.xlen(stream) == 7
    assert client.xrange(stream, count=1)[0][0].decode() == half[slow][3].offset


def test_entries_deleted_while_pending_are_skipped_and_acknowledged(opened, url, topics, client):
    topic = topics(1)
    stream = log_redis.stream_key(topic, 0)
    _produce(opened, url, topic, 1, 5, keys=1)
    first = _log(opened, url, topic, "g", "a")
    fetched = Fetched([first]).until(lambda f: len(f[first]) == 5, 5, "5 fetched")
    first.close()
    gone = fetched[first][1].offset
    client.xdel(stream, gone)
    second = _log(opened, url, topic, "g", "b")
    again = Fetched([second]).until(lambda f: len(f[second]) >= 4, 5, "4 redelivered").during(0.3)
    assert [m.offset for m in again[second]] == [m.offset for m in fetched[first] if m.offset != gone]
    second.commit(last_offsets(again[second]))
    assert client.xpending(stream, "g")["pending"] == 0


def test_recovery_follows_the_autoclaim_cursor_past_one_scan(opened, url, topics):
    topic = topics(1)
    _produce(opened, url, topic, 1, 300, keys=7)
    first = _log(opened, url, topic, "g", "a")
    fetched = Fetched([first]).until(lambda f: len(f[first]) == 300, 5, "300 fetched")
    first.close()
    second = _log(opened, url, topic, "g", "b", claim_count=5)  # each XAUTOCLAIM scans at most 50
    again = Fetched([second]).until(lambda f: len(f[second]) >= 300, 10, "300 redelivered").during(0.2)
    assert [m.offset for m in again[second]] == [m.offset for m in fetched[first]]
    assert {m.deliveries for m in again[second]} == {2}



def test_a_fetch_returns_at_most_max_messages_and_serves_every_partition(opened, url, topics):
    topic = topics(4)
    _produce(opened, url, topic, 4, 80, keys=16)
    log = _log(opened, url, topic, "g", "a")
    sizes, seen = [], []
    while len(seen) < 80 and len(sizes) < 200:
        batch = log.fetch(2, 0.05)  # fewer than the partitions: they take turns
        sizes.append(len(batch))
        seen += batch
    assert max(sizes) <= 2 and len(seen) == 80
    assert_in_log_order(seen, 4)

def test_missing_topics_backends_and_partition_counts_are_refused(url, topics):
    with pytest.raises(TopicNotFound):
        open_log("redis", url, f"lab:test:log:none:{uuid.uuid4().hex[:8]}", "g", "a")
    with pytest.raises(TopicNotFound):
        open_producer("redis", url, f"lab:test:log:none:{uuid.uuid4().hex[:8]}", 2)
    topic = topics(2)
    with pytest.raises(ValueError, match="has 2 partitions, not 3"):
        open_producer("redis", url, topic, 3)
    with pytest.raises(ValueError, match="backend must be one of kafka, redis"):
        open_log("nats", url, topic, "g", "a")
    with pytest.raises(log_redis.LogError, match="exists"):
        create_topic("redis", url, topic, 2)

