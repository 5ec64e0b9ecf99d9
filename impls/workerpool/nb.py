"""The work kernel, Numba tier: the Python API over `nb_kernel.process`.

Same contract as `impls.workerpool.pure` (the specification), row for row. Python checks the
arguments (kernel_contract.batch_args, the checks every tier shares) and joins the payloads
into one buffer with the offsets of its messages; the kernel does the rest -- decoding, poison,
deltas and digest rounds -- in one call that holds no GIL.
"""

from __future__ import annotations

import numpy as np

from impls.workerpool import nb_kernel
from impls.workerpool.kernel_contract import Effects, batch_args

__all__ = ["Effects", "process_batch", "warmup"]


def process_batch(payloads, rounds: int) -> Effects:
    """Each payload's effect, in order (see impls.workerpool.pure)."""
    payloads, rounds = batch_args(payloads, rounds)
    buf = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    offsets = np.zeros(len(payloads) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, payloads), dtype=np.int64, count=len(payloads)), out=offsets[1:])
    offsets.flags.writeable = False  # the kernel's signature takes it read-only, as `buf`
    return Effects(*nb_kernel.process(buf, offsets, rounds))


def warmup() -> None:
    """Load the compiled kernels (eager signatures: compiled or read from the cache at import)
    and run every path once: an OK order, a poison one, a malformed one, with rounds."""
    from impls.serial.pure import encode_order

    process_batch([encode_order({"id": 1, "side": "SELL", "qty": 2, "tags": ["poison"]}),
                   encode_order({"id": 2, "user_id": 3, "side": "BUY", "qty": 4}), b"\x08"], 3)
