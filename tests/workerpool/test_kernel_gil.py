"""The compiled tiers release the GIL for the digest rounds, so worker threads run in parallel.

Behaviour, not speed, measured so that a loaded machine does not fail it:
- **the interpreter keeps running**: while one long call runs in a worker thread, the main
  thread spins in Python and notes its longest stall. A call that kept the GIL would stall it
  for the whole call; released, the main thread only waits for the GIL's hand-overs (a few
  switch intervals, 5 ms each), even when the two threads share one core. A call known to keep
  the GIL (`sum` over a range: C code that never gives it up) is the control that shows the
  method tells the two apart. (Timestamps taken around a call in the calling thread cannot
  show this: the thread may wait for the GIL between its timestamp and the call.)
- **two cores**: two threads calling at once add up more CPU time (time.thread_time) than the
  wall time they take together. That needs a second free core, which a shared machine may not
  have at that moment; so it is tried a few times, interleaved with a control that also releases
  the GIL (hashlib over 8 MB), and fails only if the control found two free cores most of the
  time while the kernel never did (else it is skipped: the machine is busy elsewhere). The pure
  tier, interpreted and GIL-bound, never uses more than one core.
"""

import hashlib
import sys
import threading
import time

import pytest

from impls.serial.pure import encode_order
from impls.workerpool.kernel_contract import rounds_for

pytestmark = pytest.mark.skipif(not getattr(sys, "_is_gil_enabled", lambda: True)(),
                                reason="a free-threaded Python has no GIL to release")

ORDER = [encode_order({"id": 1, "user_id": 2, "side": "BUY", "qty": 3, "ts_ns": 4})]
CALL_US = 100_000  # each call about 0.1 s of compiled work: long beside switch intervals and thread start-up
ATTEMPTS = 8


def _main_thread_stall(fn) -> tuple[float, float]:
    """(longest stall of the main thread, seconds fn took) while fn() runs in another thread."""
    took = []

    def run():
        start = time.perf_counter()
        fn()
        took.append(time.perf_counter() - start)

    worker = threading.Thread(target=run)
    last = time.perf_counter()
    stall = 0.0
    worker.start()
    while worker.is_alive():
        now = time.perf_counter()
        stall, last = max(stall, now - last), now
    worker.join()
    return stall, took[0]


def _cores_used(fn) -> float:
    """CPU seconds of two threads running fn() at once, over the wall seconds they took together."""
    barrier = threading.Barrier(2)
    spans = [None, None]

    def run(i):
        barrier.wait()
        start, cpu = time.perf_counter(), time.thread_time()
        fn()
        spans[i] = (start, time.perf_counter(), time.thread_time() - cpu)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = max(end for _, end, _ in spans) - min(start for start, _, _ in spans)
    return sum(cpu for _, _, cpu in spans) / wall


def _keeps_the_gil():
    sum(range(10_000_000))


def _releases_the_gil(data=b"\x00" * (8 << 20)):
    hashlib.sha256(data).digest()


def _stalled(fn) -> float:
    """The main thread's longest stall as a share of the call."""
    stall, took = _main_thread_stall(fn)
    return stall / took


def test_the_interpreter_keeps_running_during_a_call(compiled):
    control = _stalled(_keeps_the_gil)
    assert control > 0.8, f"the method cannot see a call that keeps the GIL (stall {control:.0%} of the call)"
    rounds = rounds_for(CALL_US)
    stalls = []
    for _ in range(3):
        stalls.append(_stalled(lambda: compiled.process_batch(ORDER, rounds)))
        if stalls[-1] < 0.5:
            return
    pytest.fail(f"{compiled.__name__}: the main thread stalled for {min(stalls):.0%} of a call at best (a call "
                f"that keeps the GIL: {control:.0%})")


def test_two_threads_use_two_cores(compiled, pure):
    """Passes as soon as the kernel's two threads use more than 1.3 cores. Fails only when, over
    every attempt, they never did while the control (hashlib, interleaved with them) found two
    free cores in at least half of the attempts: a machine busy elsewhere is a skip."""
    rounds = rounds_for(CALL_US)
    kernel, control = [], []
    for _ in range(ATTEMPTS):
        control.append(_cores_used(_releases_the_gil))
        kernel.append(_cores_used(lambda: compiled.process_batch(ORDER, rounds)))
        if kernel[-1] > 1.3:
            break
    else:
        free = sum(c > 1.5 for c in control)
        if free < ATTEMPTS / 2:
            pytest.skip(f"two free cores in only {free} of {ATTEMPTS} control runs (cores used: {control})")
        pytest.fail(f"{compiled.__name__} used at most {max(kernel):.2f} cores with two threads, while the control "
                    f"used two in {free} of {ATTEMPTS} runs between them ({control})")
    # The GIL-bound tier, for contrast (its rounds cost ~100x more: about the same wall time).
    assert _cores_used(lambda: pure.process_batch(ORDER, rounds // 100)) < 1.15
