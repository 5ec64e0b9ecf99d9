"""Locust against the gateway's REST face (FastHttpUser: geventhttpclient, the cheapest client
Locust has, so that the load generator's CPU stays well under the service's).

    locust -f bench/locust/rest.py --host http://127.0.0.1:8080 [--rest-scenario S] [--user-rate R]

Scenarios (--rest-scenario, or LAB_REST_SCENARIO):
  mix             the mixed traffic of bench.locust.traffic.Mix, JSON (default)
  orders-json     valid, unique orders as JSON, fresh keys       -> "POST /orders"
  orders-msgpack  the same as msgpack                             -> "POST /orders [msgpack]"
  ping            the floor: the same JSON body to POST /ping     -> "POST /ping"
Every answer is judged by traffic.judge: expected 4xx answers are successes under their own
request name; anything else is a failure named by its status.
"""

from __future__ import annotations

import os

import msgpack
import orjson
from locust import events, task
from locust.contrib.fasthttp import FastHttpUser

from bench.locust import report, traffic  # noqa: F401 - report adds --summary-json

SCENARIOS = ("mix", "orders-json", "orders-msgpack", "ping")
JSON, MSGPACK = "application/json", "application/msgpack"
JSON_CODEC = traffic.Codec(orjson.dumps, b'{"id": 1, "user_id": ')  # cut short: malformed JSON
MSGPACK_CODEC = traffic.Codec(msgpack.packb, b"\xc1\xc1")             # 0xc1 is never used in msgpack


@events.init_command_line_parser.add_listener
def _add_arguments(parser) -> None:
    parser.add_argument("--rest-scenario", choices=SCENARIOS, default=os.environ.get("LAB_REST_SCENARIO", "mix"),
                        help="what OrderClient sends (see bench/locust/rest.py)")


class OrderClient(FastHttpUser):
    """One client of POST /orders (or /ping), paced by --user-rate."""

    wait_time = traffic.pacing

    def on_start(self) -> None:
        traffic.stagger(self)
        options = self.environment.parsed_options
        self.scenario = options.rest_scenario if options else "mix"
        if self.scenario == "orders-msgpack":
            self.traffic, self.content_type, self.base = traffic.Fresh(MSGPACK_CODEC), MSGPACK, "POST /orders [msgpack]"
        elif self.scenario == "mix":
            self.traffic, self.content_type, self.base = traffic.Mix(JSON_CODEC), JSON, "POST /orders"
        else:
            self.traffic, self.content_type, self.base = traffic.Fresh(JSON_CODEC), JSON, "POST /orders"

    @task
    def send(self) -> None:
        if self.scenario == "ping":
            self.ping()
            return
        for shot in self.traffic.shots():
            self.traffic.answered(shot, self.post_order(shot))

    def post_order(self, shot: traffic.Shot) -> str | None:
        headers = {"Content-Type": self.content_type}
        if shot.key is not None:
            headers["Idempotency-Key"] = shot.key
        with self.client.post("/orders", data=shot.body, headers=headers, name=traffic.name(self.base, shot.kind),
                              catch_response=True) as response:
            if response.status_code == 0:  # no answer at all: the error names it
                response.failure(traffic.UnexpectedAnswer(f"no answer: {type(response.error).__name__}"))
                return None
            replayed = (response.headers or {}).get("Idempotent-Replayed") == "true"
            outcome = traffic.rest_outcome(response.status_code, replayed)
            failure = traffic.judge(shot.kind, outcome, str(response.status_code))
            if failure is None:
                response.success()
            else:
                response.failure(failure)
            return outcome

    def ping(self) -> None:
        body = JSON_CODEC.encode(traffic.new_order())  # an order's size: the floor reads a body too
        with self.client.post("/ping", data=body, headers={"Content-Type": JSON}, name="POST /ping",
                              catch_response=True) as response:
            if response.status_code == 200:
                response.success()
            else:
                label = f"no answer: {type(response.error).__name__}" if response.status_code == 0 else (
                    f"unexpected {response.status_code}")
                response.failure(traffic.UnexpectedAnswer(label))
