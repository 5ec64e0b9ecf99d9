"""The pool's log on the Kafka protocol (impls.workerpool.log_kafka) against the lab's embedded
broker (or KAFKA_BOOTSTRAP's cluster): order per partition, commits that survive the consumer,
redelivery of what was not committed, partitions moving between group members, pause without
losing the membership, dead letters, lag. Every test works in topics of its own under "lab.",
deleted at its end. Each group join waits for the broker's initial rebalance delay (~3 s), so
the tests join as few times as they can."""

import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from bench.backends import kafka
from impls.workerpool import log_kafka
from impls.workerpool.log import Message, TopicNotFound, create_topic, open_log, open_producer
from tests.workerpool.log_harness import (ChangeRecord, Fetched, assert_in_log_order, assert_lag_follows_commits,
                                          last_offsets, produce_keyed)

JOIN_S = 20  # the longest a join or rebalance may take here (measured: 3-4.5 s)


@pytest.fixture(scope="module")
def bootstrap(kafka_bootstrap):
    return kafka_bootstrap


@pytest.fixture
def topics(bootstrap):
    """make(partitions) -> a new topic under "lab." (and its .dlq); all deleted at the end."""
    made = []

    def make(partitions: int) -> str:
        name = f"{kafka.LAB_TOPIC_PREFIX}test.log.{uuid.uuid4().hex[:8]}"
        made.append(name)
        create_topic("kafka", bootstrap, name, partitions)
        return name

    yield make
    if made:
        kafka.delete_topics(bootstrap, made + [log_kafka.dead_letter_topic(n) for n in made])


def _group() -> str:
    return f"lab.test.{uuid.uuid4().hex[:8]}"


def _log(opened, bootstrap, topic, group, name, **tuning):
    return opened.keep(open_log("kafka", bootstrap, topic, group, name, **tuning))


def _produce(opened, bootstrap, topic, partitions, n, keys, start=0):
    producer = opened.keep(open_producer("kafka", bootstrap, topic, partitions))
    return produce_keyed(producer, n, keys, start)


def test_one_consumer_reads_every_message_in_order_and_its_commits_survive_it(opened, bootstrap, topics):
    topic, group = topics(4), _group()
    sent = _produce(opened, bootstrap, topic, 4, 2000, keys=50)
    first = _log(opened, bootstrap, topic, group, "a")
    fetched = Fetched([first]).until(lambda f: len(f[first]) >= 2000, JOIN_S + 10, "all 2000 fetched")
    got = fetched[first]
    assert sorted((m.key, m.value) for m in got) == sorted(sent) and len(got) == 2000
    assert_in_log_order(got, 4)
    assert {m.deliveries for m in got} == {1}
    assert all(m.sort_key == f"{m.offset:020d}" for m in got)
    first.commit(last_offsets(got))
    first.close()

    second = _log(opened, bootstrap, topic, group, "b")
    again = Fetched([second]).until(lambda f: second.assignment() == {0, 1, 2, 3}, JOIN_S, "b owns all").during(1.0)
    assert again[second] == []  # nothing old
    _produce(opened, bootstrap, topic, 4, 1, keys=1, start=2000)
    again.until(lambda f: len(f[second]) == 1, 10, "the new message")
    assert again[second][0].value == b"2000"


def test_an_uncommitted_message_is_redelivered_to_the_next_consumer(opened, bootstrap, topics):
    topic, group = topics(1), _group()
    _produce(opened, bootstrap, topic, 1, 10, keys=3)
    first = _log(opened, bootstrap, topic, group, "a")
    fetched = Fetched([first]).until(lambda f: len(f[first]) == 10, JOIN_S, "10 fetched")
    first.commit({0: fetched[first][3].offset})  # the first four are done, six are not
    first.close()
    second = _log(opened, bootstrap, topic, group, "b")
    again = Fetched([second]).until(lambda f: len(f[second]) >= 6, JOIN_S, "the six redelivered").during(0.5)
    assert [m.offset for m in again[second]] == [m.offset for m in fetched[first][4:]]
    assert {m.deliveries for m in again[second]} == {1}  # Kafka keeps no count: the pool counts


def test_two_consumers_split_the_partitions_and_a_closing_ones_go_to_the_other(opened, bootstrap, topics):
    topic, group = topics(4), _group()
    a, b = _log(opened, bootstrap, topic, group, "a"), _log(opened, bootstrap, topic, group, "b")
    changes_a, changes_b = ChangeRecord.on(a), ChangeRecord.on(b)
    both = Fetched([a, b]).until(lambda f: len(a.assignment()) == 2 and len(b.assignment()) == 2, 2 * JOIN_S,
                                 "2 + 2")
    assert a.assignment() | b.assignment() == {0, 1, 2, 3}
    changes_a.calls.clear()
    changes_b.calls.clear()
    _produce(opened, bootstrap, topic, 4, 400, keys=40)
    both.until(lambda f: len(f.all) == 400, 10, "all 400 fetched once")
    assert {m.partition for m in both[a]} <= a.assignment() and {m.partition for m in both[b]} <= b.assignment()
    b.commit(last_offsets(both[b]))  # b is done with its own; a finishes nothing
    a_partitions, b_partitions, a_had = a.assignment(), b.assignment(), list(both[a])
    a.close()
    assert changes_a.calls == [(set(), a_partitions)]  # revoked, as it left
    after = Fetched([b]).until(lambda f: len(f[b]) >= len(a_had), JOIN_S, "a's messages redelivered to b")
    assert b.assignment() == {0, 1, 2, 3}
    # eager rebalance: b's own partitions were revoked too, then everything assigned anew
    assert changes_b.calls == [(set(), b_partitions), ({0, 1, 2, 3}, set())]
    assert sorted((m.partition, m.offset) for m in after[b]) == sorted((m.partition, m.offset) for m in a_had)
    assert_in_log_order(after[b], 4)


def test_pause_stops_delivery_while_fetch_keeps_the_membership(opened, bootstrap, topics):
    topic, group = topics(2), _group()
    # Paused longer than the session timeout (6 s) and max.poll.interval.ms (7 s here).
    log = _log(opened, bootstrap, topic, group, "a", config={"max.poll.interval.ms": 7000})
    changes = ChangeRecord.on(log)
    fetched = Fetched([log]).until(lambda f: log.assignment() == {0, 1}, JOIN_S, "a owns both")
    changes.calls.clear()
    log.pause({0, 1})
    sent = _produce(opened, bootstrap, topic, 2, 100, keys=20)
    fetched.during(8.0)
    assert fetched[log] == [] and changes.calls == [] and log.assignment() == {0, 1}
    log.resume({0, 1})
    fetched.until(lambda f: len(f[log]) == 100, 10, "all after resume")
    assert sorted(m.value for m in fetched[log]) == sorted(v for _, v in sent)
    assert_in_log_order(fetched[log], 2)


def test_lag_counts_what_the_group_has_not_committed_in_the_owned_partitions(opened, bootstrap, topics):
    topic, group = topics(2), _group()
    # One record per batch: the embedded broker's ListOffsets is right only then (log_kafka's
    # doc); once a partition is fetched, the fetch responses' high watermark is used as well.
    producer = opened.keep(open_producer("kafka", bootstrap, topic, 2))
    sent = [pair for i in range(100) for pair in produce_keyed(producer, 1, keys=20, start=i)]
    log = _log(opened, bootstrap, topic, group, "a")
    assert_lag_follows_commits(log, sent, JOIN_S, 0.3)


def test_a_dead_letter_lands_in_the_dlq_with_its_reason(opened, bootstrap, topics):
    topic = topics(2)
    log = _log(opened, bootstrap, topic, _group(), "a")  # no join needed to write a dead letter
    poison = Message(partition=1, offset=41, sort_key=f"{41:020d}", key=b"user:7", value=b"{not json")
    log.dead_letter(poison, "cannot parse: bad json")
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": _group(), "enable.auto.commit": False,
                       "log_level": 4})
    try:
        reader.assign([TopicPartition(log.dead_letter_topic, 0, OFFSET_BEGINNING)])  # no group join
        found = []
        for _ in range(50):
            found += [m for m in reader.consume(10, 0.2) if m.error() is None]
            if found:
                break
    finally:
        reader.close()
    assert len(found) == 1
    letter = found[0]
    assert (letter.key(), letter.value()) == (b"user:7", b"{not json")
    assert dict(letter.headers()) == {"reason": b"cannot parse: bad json", "partition": b"1", "offset": b"41"}


def test_missing_topics_and_wrong_partition_counts_are_refused(bootstrap, topics):
    missing = f"{kafka.LAB_TOPIC_PREFIX}test.log.none.{uuid.uuid4().hex[:8]}"
    with pytest.raises(TopicNotFound):
        open_log("kafka", bootstrap, missing, _group(), "a")
    with pytest.raises(TopicNotFound):
        open_producer("kafka", bootstrap, missing, 2)
    topic = topics(2)
    with pytest.raises(ValueError, match="has 2 partitions, not 3"):
        open_producer("kafka", bootstrap, topic, 3)
