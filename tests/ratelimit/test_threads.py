"""Thread safety as documented: many threads on one limiter never admit more than
capacity + rate x elapsed, and at one instant exactly capacity (no race ever over-admits).

Half the threads use acquire_many, which the compiled tiers decide without the GIL for an
int64 array; the other half use acquire on the same key."""

import threading
import time

import numpy as np
import pytest

THREADS = 8


def _run(workers):
    threads = [threading.Thread(target=w) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.mark.parametrize("kind", ["token", "leaky"])
def test_threads_at_one_instant_admit_exactly_capacity(tier, kind):
    limiter = tier.KeyedLimiter(kind, 500.0, 1.0)
    bucket = (tier.TokenBucket if kind == "token" else tier.LeakyBucket)(500.0, 1.0, now=0.0)
    keyed, single = [], []

    def one_by_one():
        keyed.append(sum(limiter.acquire(7, 1.0, 0.0) for _ in range(300)))
        single.append(sum(bucket.acquire(1.0, 0.0) for _ in range(300)))

    def in_batches():
        keyed.append(sum(int(limiter.acquire_many(np.full(30, 7), 0.0).sum()) for _ in range(10)))
        single.append(sum(bucket.acquire(1.0, 0.0) for _ in range(300)))

    _run([one_by_one, in_batches] * (THREADS // 2))
    assert sum(keyed) == 500 and sum(single) == 500


@pytest.mark.parametrize("key", ["shared", 7])
def test_threads_on_the_clock_never_over_admit(tier, key):
    capacity, rate = 20.0, 200.0
    limiter = tier.KeyedLimiter("token", capacity, rate)
    batch = np.full(4, key) if isinstance(key, int) else [key] * 4
    admitted = [0] * THREADS
    start = time.monotonic()  # every timestamp the limiter reads is after this...
    stop = start + 0.4

    def work(i):
        while time.monotonic() < stop:
            if i % 2:
                admitted[i] += int(limiter.acquire_many(batch).sum())
            else:
                admitted[i] += limiter.acquire(key)

    _run([lambda i=i: work(i) for i in range(THREADS)])
    elapsed = time.monotonic() - start  # ...and before this
    assert sum(admitted) <= capacity + rate * elapsed
    assert sum(admitted) >= capacity  # demand was far above the rate: the bucket was used
