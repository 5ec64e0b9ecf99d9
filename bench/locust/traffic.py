"""What the load generator sends and what answer each request expects, for both transports.

Two kinds of traffic:

* measuring scenarios (`Fresh`): only valid orders, each with a fresh Idempotency-Key, spread
  over many user_ids so that no client comes near its rate limit: every request takes the full
  happy path (decode, limit, claim, ring, append), which is what the figures are about;
* the mix (`Mix`): mostly valid orders, plus resends of an earlier request (same key and
  payload: a 201 replay; same key, other payload: 422), bursts from a few hot clients (429 is
  expected for them) and a small share of malformed bodies (a 4xx is expected).

Every answer is judged here (`judge`): an expected answer is a success, even a 4xx, under a
request name that says what was sent ("POST /orders [malformed]"); anything else is a failure
whose text names it ("unexpected 500", "unexpected 429 (limited)"), so Locust's failures table
and CSV count failures by kind.
"""

from __future__ import annotations

import itertools
import os
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from locust import events

# --- what is sent -----------------------------------------------------------------------------

VALID, REPLAY, CONFLICT, HOT, MALFORMED = "valid", "replay", "conflict", "hot user", "malformed"
#: The outcomes of a request, whatever the transport (rest_outcome, and grpc_user's).
OK, REPLAYED, INVALID, IN_FLIGHT, REFUSED_CONFLICT, LIMITED, UNAVAILABLE = (
    "ok", "replayed", "invalid", "in flight", "conflict", "limited", "unavailable")
#: What each kind of request may be answered; anything else is a failure.
EXPECTED = {VALID: {OK}, REPLAY: {REPLAYED}, CONFLICT: {REFUSED_CONFLICT}, HOT: {OK, LIMITED},
            MALFORMED: {INVALID}}

#: user_ids 1..HOT_USERS belong to the hot clients of the mix; everyone else is drawn from
#: [FIRST_USER, LAST_USER), so at a few hundred orders/s no client sends twice a second.
HOT_USERS = 3
FIRST_USER, LAST_USER = 1_000, 10_000_000
SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "TSLA", "META", "ASML")

#: Per process, ids count up from a random start: unique within a run, spread across processes.
_ids = itertools.count(random.getrandbits(40) << 20 | 1)


def new_key() -> str:
    """A fresh Idempotency-Key (unique across runs that share one Redis)."""
    return f"load-{uuid.uuid4().hex}"


def new_order(user_id: int | None = None) -> dict:
    """A valid order (JSON form) with a fresh id, for `user_id` or a random ordinary client."""
    return {"id": next(_ids), "user_id": user_id or random.randrange(FIRST_USER, LAST_USER),
            "symbol": random.choice(SYMBOLS), "side": random.choice(("BUY", "SELL")),
            "price": round(random.uniform(1.0, 1000.0), 2), "qty": random.randint(1, 500),
            "tags": ["load"], "meta": {"venue": "XNAS", "flags": 0}}


@dataclass(frozen=True)
class Codec:
    """How a transport writes an order, and bytes that are no order at all in its format."""

    encode: Callable[[dict], bytes]
    garbage: bytes


@dataclass(frozen=True)
class Shot:
    """One request: what kind it is, its body and its Idempotency-Key."""

    kind: str
    body: bytes
    key: str | None
    order: dict | None = None   # the order the body encodes (None for garbage)


def name(base: str, kind: str) -> str:
    """The request name Locust reports: valid orders under `base`, the rest beside it."""
    return base if kind == VALID else f"{base} [{kind}]"


class Fresh:
    """The measuring scenarios' traffic: valid, unique orders with fresh keys."""

    def __init__(self, codec: Codec):
        self.codec = codec

    def shots(self) -> Iterator[Shot]:
        order = new_order()
        yield Shot(VALID, self.codec.encode(order), new_key(), order)

    def answered(self, shot: Shot, outcome: str | None) -> None:
        pass


class Mix:
    """The mixed traffic of one Locust user. Call `answered` after each shot of `shots()`: the
    resends pick from requests answered 201, and a burst ends once the client is limited."""

    #: Shares of the single requests (a burst is scheduled apart, see BURST_EVERY).
    WEIGHTS = {VALID: 86, REPLAY: 6, CONFLICT: 3, MALFORMED: 5}
    #: A resend waits this long after the first answer: the gateway stores that answer after
    #: replying (not awaited), so an immediate resend may find the key in flight (409).
    RESEND_AFTER_S = 1.0
    #: Each Locust user bursts on its BURST_FIRST-th task and every BURST_EVERY tasks after:
    #: a short run sees a burst, a long one keeps the hot share near a tenth of the requests.
    BURST_FIRST, BURST_EVERY = 10, 500
    #: A burst sends to one hot client until it is limited this many times (at most BURST_MAX):
    #: the limit (burst 50, 100/s by default) is reached whatever the service's latency.
    BURST_LIMITED, BURST_MAX = 3, 300

    def __init__(self, codec: Codec):
        self.codec = codec
        self._done: deque[tuple[float, Shot]] = deque(maxlen=200)
        self._tasks = 0
        self._limited = 0
        kinds = list(self.WEIGHTS)
        self._draw = lambda: random.choices(kinds, weights=[self.WEIGHTS[k] for k in kinds])[0]

    def shots(self) -> Iterator[Shot]:
        self._tasks += 1
        if self._tasks == self.BURST_FIRST or self._tasks % self.BURST_EVERY == self.BURST_FIRST:
            yield from self._burst()
            return
        kind = self._draw()
        earlier = self._earlier()
        if kind == REPLAY and earlier is not None:
            yield Shot(REPLAY, earlier.body, earlier.key, earlier.order)
        elif kind == CONFLICT and earlier is not None:
            other = {**earlier.order, "qty": earlier.order["qty"] + 1}
            yield Shot(CONFLICT, self.codec.encode(other), earlier.key, other)
        elif kind == MALFORMED:
            yield self._malformed()
        else:
            order = new_order()
            yield Shot(VALID, self.codec.encode(order), new_key(), order)

    def answered(self, shot: Shot, outcome: str | None) -> None:
        if shot.kind == VALID and outcome == OK:
            self._done.append((time.monotonic(), shot))
        elif shot.kind == HOT and outcome == LIMITED:
            self._limited += 1

    def _earlier(self) -> Shot | None:
        """A request answered 201 at least RESEND_AFTER_S ago (None yet at the start)."""
        cutoff = time.monotonic() - self.RESEND_AFTER_S
        old = [shot for at, shot in self._done if at <= cutoff]
        return random.choice(old) if old else None

    def _burst(self) -> Iterator[Shot]:
        user = random.randint(1, HOT_USERS)
        self._limited = 0
        for _ in range(self.BURST_MAX):
            if self._limited >= self.BURST_LIMITED:
                return
            order = new_order(user)
            yield Shot(HOT, self.codec.encode(order), new_key(), order)

    def _malformed(self) -> Shot:
        variant = random.choice(("garbage", "negative qty", "unknown side"))
        if variant == "garbage":
            return Shot(MALFORMED, self.codec.garbage, new_key())
        order = new_order()
        if variant == "negative qty":
            order["qty"] = -order["qty"]
        else:
            order["side"] = "HOLD"
        return Shot(MALFORMED, self.codec.encode(order), new_key(), order)


# --- what is expected -------------------------------------------------------------------------

class UnexpectedAnswer(Exception):
    """A failure of a request, reported to Locust; its text is the failure's kind (its repr too,
    since Locust groups failures by repr)."""

    def __repr__(self) -> str:
        return str(self)


_REST_OUTCOMES = {400: INVALID, 413: INVALID, 415: INVALID, 409: IN_FLIGHT, 422: REFUSED_CONFLICT,
                  429: LIMITED, 503: UNAVAILABLE}


def rest_outcome(status: int, replayed: bool) -> str | None:
    """The outcome of an HTTP answer to POST /orders (None: a status the API never answers)."""
    if status == 201:
        return REPLAYED if replayed else OK
    return _REST_OUTCOMES.get(status)


def judge(kind: str, outcome: str | None, label: str) -> UnexpectedAnswer | None:
    """None if `outcome` is what a `kind` request expects, else the failure naming the answer
    (`label`: the HTTP status or gRPC code as received)."""
    if outcome in EXPECTED[kind]:
        return None
    if outcome is None:
        return UnexpectedAnswer(f"unexpected {label}")
    return UnexpectedAnswer(f"unexpected {label} ({outcome})")


# --- how fast ---------------------------------------------------------------------------------

@events.init_command_line_parser.add_listener
def _add_arguments(parser) -> None:
    parser.add_argument("--user-rate", type=float, default=float(os.environ.get("LAB_USER_RATE", "10")),
                        help="task runs per second per user (constant_throughput; 0: no pause). "
                             "Offered load = users x rate (a SubmitMany task carries many orders).")


def stagger(user) -> None:
    """Sleep a random part of one pace period before the first task: users spawned together
    would otherwise all send at once at the start, and again each period (a run of a few
    periods -- SubmitMany's -- would offer far more than its rate)."""
    options = user.environment.parsed_options
    rate = options.user_rate if options else 10.0
    if rate > 0:
        import gevent

        gevent.sleep(random.uniform(0.0, 1.0 / rate))
        # constant_pacing measures the first task's run time from the user's creation: restart
        # that clock, or the sleep would be taken back from the second task's wait.
        user._cp_last_run = time.perf_counter()


def pacing(user) -> float:
    """The wait_time of the lab's users: constant_throughput(--user-rate), so the offered load is
    fixed by the command line and the same for every tier, whatever the latency."""
    pace = getattr(user, "_lab_pace", None)
    if pace is None:
        from locust import constant, constant_throughput

        rate = user.environment.parsed_options.user_rate if user.environment.parsed_options else 10.0
        pace = user._lab_pace = constant_throughput(rate) if rate > 0 else constant(0)
    return pace(user)
