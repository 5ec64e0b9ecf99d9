"""A contention worker: `python -m tests.ratelimit.hammer URL PREFIX CAPACITY RATE SECONDS THREADS`.

Threads call RedisLimiter.acquire on one key, as fast as they can, until SECONDS have passed,
each passing its own time.time() so the parent knows every timestamp the server saw. Prints
one JSON line: admitted, calls, and the first and last timestamps used.
"""

import json
import sys
import threading
import time

from impls.ratelimit.redis import RedisLimiter, connect

KEY = "hot"


def main(url: str, prefix: str, capacity: float, rate: float, seconds: float, threads: int) -> None:
    limiter = RedisLimiter(connect(url, timeout=5.0), "token", capacity, rate, prefix=prefix)
    results = []
    deadline = time.monotonic() + seconds

    def work() -> None:
        admitted = calls = 0
        first = last = None
        while time.monotonic() < deadline:
            now = time.time()
            admitted += limiter.acquire(KEY, 1.0, now)
            calls += 1
            first = now if first is None else min(first, now)
            last = now if last is None else max(last, now)
        results.append((admitted, calls, first, last))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(json.dumps({"admitted": sum(r[0] for r in results), "calls": sum(r[1] for r in results),
                      "first": min(r[2] for r in results), "last": max(r[3] for r in results)}))


if __name__ == "__main__":
    url, prefix, capacity, rate, seconds, threads = sys.argv[1:7]
    main(url, prefix, float(capacity), float(rate), float(seconds), int(threads))
