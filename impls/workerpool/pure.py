"""The work kernel in plain Python: the specification of what a worker does with each message.

`process_batch(payloads, rounds)` handles every payload on its own, in order (the types,
statuses and argument errors are in `impls.workerpool.kernel_contract`):

1. **Decode** it as an Order with the serial family's decoder. Bytes it rejects (DecodeError)
   are MALFORMED: the row is zeros but for its status, and the batch goes on.
2. **Reject poison**: an order with the tag "poison" (exactly; "Poison" or "poisoned" are not)
   is POISON: its user_id is kept, so the caller can say whose message it was, but it has no
   delta and no digest -- no work is done for a rejected message.
3. **Work**: otherwise the message is OK. Its ``delta`` is +qty for BUY, -qty for SELL (in
   64-bit two's complement, so -(-2**63) is -2**63), 0 for any other side; its ``digest`` is

       h = 0
       for value in (id, user_id, qty, ts_ns):   # each as its 64-bit two's complement
           h = mix64((h ^ value) + GAMMA)
       repeat `rounds` times:
           h = mix64(h + GAMMA)

   with every operation modulo 2**64 and mix64 splitmix64's finalizer. Each round depends on
   the one before, so no compiler can skip or overlap them: the work is real and its cost is
   linear in `rounds`.

The compiled tiers give exactly these rows (tests/workerpool); this tier runs the same rounds,
one Python big-int operation at a time, so it shows what the GIL-bound ceiling costs.
"""

from __future__ import annotations

from impls.serial.errors import DecodeError
from impls.serial.pure import decode_order
from impls.serial.schema import INT64_MAX
from impls.workerpool.kernel_contract import (GAMMA, MALFORMED, MIX1, MIX2, OK, POISON, POISON_TAG, Effects,
                                              batch_args)

__all__ = ["Effects", "process_batch", "warmup"]

MASK64 = (1 << 64) - 1
#: The row of a message that is not an Order: (user_id, delta, digest, status).
MALFORMED_ROW = (0, 0, 0, MALFORMED)


def mix64(z: int) -> int:
    """splitmix64's finalizer: a bijection of 64-bit values that spreads every input bit."""
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    return z ^ (z >> 31)


def digest(order_id: int, user_id: int, qty: int, ts_ns: int, rounds: int) -> int:
    """The digest of an order's fields after `rounds` rounds (see the module doc)."""
    h = 0
    for value in (order_id, user_id, qty, ts_ns):
        h = mix64(((h ^ (value & MASK64)) + GAMMA) & MASK64)
    for _ in range(rounds):
        h = mix64((h + GAMMA) & MASK64)
    return h


def as_int64(value: int) -> int:
    """`value` modulo 2**64, as a signed 64-bit int."""
    value &= MASK64
    return value - (1 << 64) if value > INT64_MAX else value


def position_change(side, qty: int) -> int:
    """+qty for BUY, -qty for SELL, 0 for another side (`side` as decode_order gives it: a
    name, or an int for a value without one)."""
    if side == "BUY":
        return qty
    if side == "SELL":
        return as_int64(-qty)
    return 0


def process_message(payload: bytes, rounds: int) -> tuple[int, int, int, int]:
    """One message's row: (user_id, delta, digest, status)."""
    try:
        order = decode_order(payload)
    except DecodeError:
        return MALFORMED_ROW
    if POISON_TAG in order["tags"]:
        return order["user_id"], 0, 0, POISON
    work = digest(order["id"], order["user_id"], order["qty"], order["ts_ns"], rounds)
    return order["user_id"], position_change(order["side"], order["qty"]), work, OK


def process_batch(payloads, rounds: int) -> Effects:
    """Each payload's effect, in order (see the module doc and kernel_contract)."""
    payloads, rounds = batch_args(payloads, rounds)
    effects = Effects.zeros(len(payloads))
    for i, payload in enumerate(payloads):
        effects.user_id[i], effects.delta[i], effects.digest[i], effects.status[i] = process_message(payload, rounds)
    return effects


def warmup() -> None:
    """Nothing to compile in this tier; present so every tier has the same names."""
