"""The order gateway: the lab's hot paths behind a real REST and gRPC service (issue 9).

One order goes through every family: it is decoded (serial: msgpack or protobuf of the chosen
tier, JSON by orjson), admitted by a per-client rate limit (ratelimit: the keyed limiter of the
tier, or the Redis tier), made idempotent by its Idempotency-Key (one Redis script), routed by
the hash ring to one of P partitions (hashring) and appended to the worker pool's log (Kafka
protocol or Redis Streams), from which `python -m bench pool consume` drains it.

* `config`      -- GatewayConfig: every knob of a running gateway
* `orders`      -- an order from JSON, msgpack or protobuf bytes, checked, or BadRequest naming the field
* `idempotency` -- the Idempotency-Key rules (IETF draft) as one atomic Redis script per step
* `appender`    -- an append that returns once the log has stored the order (Kafka, Redis Streams)
* `gateway`     -- Gateway.submit: limit, idempotency, ring, append; the outcome of one order
* `metrics`     -- the Prometheus metrics (prometheus_client)
* `rest`        -- the Starlette app (POST /orders, /healthz, /metrics, /openapi.json, /ping)
* `grpc_server` -- OrderService over gRPC (grpc.aio and the sync server)
* `server`      -- `python -m bench serve`: starts the backends it needs, the servers, and stops them
"""
