"""The work kernel's contract (issue 8): what `process_batch` takes and gives in every tier.

``process_batch(payloads, rounds) -> Effects`` is the work a pool's worker does with a batch of
messages, the same in the tiers pure (the specification, `impls.workerpool.pure`), cython and
numba:

* ``payloads``: a list or tuple of bytes-like objects, each meant to be one protobuf-encoded
  Order (impls/serial/order.proto, as `impls.serial.encode_order` writes it);
* ``rounds``: an int >= 0, the CPU-bound work per message (`rounds_for(work_us)` converts a
  cost in microseconds of a compiled tier).

The result has one row per payload, in order (see `Effects`), with a status per message:
``OK``; ``POISON``, an order tagged "poison" that the kernel rejects; ``MALFORMED``, bytes that
are not a valid Order (exactly those the serial family's decoders reject with DecodeError). One
bad message never fails the batch: only bad *arguments* raise, checked here (`batch_args`) in a
fixed order -- rounds, the payload sequence, then each payload -- so that every tier raises the
same exception type with the same message. process_batch keeps no state between calls: any
number of threads may call it at once.

The digest constants are splitmix64's (Steele, Lea & Flood, 2014): the golden-ratio gamma and
Stafford's "Mix13" multipliers; pure.py says how they are combined.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass

import numpy as np

from impls.serial.schema import SIDE_VALUES

#: A message's status in Effects.status.
OK, POISON, MALFORMED = 0, 1, 2
#: The tag that marks an order the kernel rejects (an exact tag, not a substring).
POISON_TAG = "poison"
#: Side values whose orders change a position: BUY adds qty, SELL subtracts it.
BUY, SELL = SIDE_VALUES["BUY"], SIDE_VALUES["SELL"]

#: splitmix64's increment (2**64 / the golden ratio, odd) and its finalizer's multipliers.
GAMMA = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB

#: Digest rounds that cost about one microsecond in the compiled tiers on the lab's machine
#: (2-core AMD EPYC, shared). Measured once with the Cython tier: process_batch of one order
#: at 10**8 rounds, 7 calls, median 0.405 s = 247 rounds per us (Numba: 244), rounded. A round
#: is a chain of dependent multiplies, so it neither vectorises nor overlaps: about 4 ns each.
#: The pure tier takes about 380 ns a round, so ~95 us for each compiled microsecond.
ROUNDS_PER_US = 250

#: The largest rounds the compiled tiers take (their loop counter is an int64).
MAX_ROUNDS = (1 << 63) - 1


def rounds_for(work_us: float) -> int:
    """The rounds that cost about `work_us` microseconds per message in a compiled tier
    (the pure tier runs the same rounds, about 100x slower)."""
    if isinstance(work_us, bool) or not isinstance(work_us, numbers.Real):
        raise TypeError(f"work_us must be a number, got {type(work_us).__name__}")
    if not (0 <= work_us < math.inf):
        raise ValueError(f"work_us must be a finite number >= 0, got {work_us!r}")
    return round(work_us * ROUNDS_PER_US)


@dataclass(frozen=True, eq=False)
class Effects:
    """What a batch did: one row per message, in order, as numpy arrays of equal length.

    * ``user_id`` (int64): the order's user (0 for a MALFORMED message);
    * ``delta`` (int64): the change of the user's position -- +qty for BUY, -qty for SELL
      (wrapping at 64 bits), 0 for any other side and for a message that is not OK;
    * ``digest`` (uint64): the result of the CPU-bound work (0 for a message that is not OK);
    * ``status`` (int8): OK, POISON or MALFORMED.

    Two Effects are equal when every array has the same dtype and the same values.
    """

    user_id: np.ndarray
    delta: np.ndarray
    digest: np.ndarray
    status: np.ndarray

    #: the arrays and their dtypes, in field order
    DTYPES = {"user_id": np.int64, "delta": np.int64, "digest": np.uint64, "status": np.int8}

    @classmethod
    def zeros(cls, n: int) -> Effects:
        """n rows of zeros: status OK, no effect (the tiers fill them in)."""
        return cls(*(np.zeros(n, dtype=dtype) for dtype in cls.DTYPES.values()))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.user_id, self.delta, self.digest, self.status

    def __len__(self) -> int:
        return len(self.status)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Effects):
            return NotImplemented
        return all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(self.arrays(), other.arrays()))

    __hash__ = None  # equal by value, and mutable arrays inside: not hashable

    def rows(self) -> list[tuple[int, int, int, int]]:
        """(user_id, delta, digest, status) per message, as Python ints (for messages and tests)."""
        return list(zip(*(a.tolist() for a in self.arrays())))


# --- argument checks ---------------------------------------------------------------------------

def check_rounds(rounds: object) -> int:
    """An int in [0, MAX_ROUNDS]: TypeError for anything else (a bool too), ValueError outside."""
    if isinstance(rounds, (bool, np.bool_)):
        raise TypeError("rounds must be an int, got bool")
    try:
        value = operator.index(rounds)  # an int or a numpy integer; not a float, not a str
    except TypeError:
        raise TypeError(f"rounds must be an int, got {type(rounds).__name__}") from None
    if not 0 <= value <= MAX_ROUNDS:
        raise ValueError(f"rounds must be between 0 and 2**63-1, got {value}")
    return value


def check_payloads(payloads: object) -> list[bytes]:
    """The payloads as a list of bytes: a list or tuple (a bare bytes object is one message
    mistaken for a batch: TypeError), each item bytes-like (else TypeError naming its index)."""
    if not isinstance(payloads, (list, tuple)):
        raise TypeError(f"payloads must be a list or tuple of bytes-like objects, got {type(payloads).__name__}")
    checked = list(payloads)
    for i, payload in enumerate(checked):
        if type(payload) is bytes:
            continue
        try:  # any bytes-like object, as the serial decoders take (bytearray, memoryview, ...)
            checked[i] = bytes(memoryview(payload))
        except TypeError:
            raise TypeError(f"payloads[{i}] must be bytes-like, got {type(payload).__name__}") from None
    return checked


def batch_args(payloads: object, rounds: object) -> tuple[list[bytes], int]:
    """process_batch's arguments, checked in the order every tier follows: rounds, then the
    payloads (see check_payloads)."""
    rounds = check_rounds(rounds)
    return check_payloads(payloads), rounds
