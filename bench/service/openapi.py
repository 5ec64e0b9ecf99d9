"""The OpenAPI 3.1 document of the REST gateway, served at GET /openapi.json.

Written out rather than generated: the gateway validates orders with the serial family's own
contract (so every tier refuses the same input the same way), not with a framework's models,
and this document states those same rules. tests/service checks the two agree by running
schemathesis against it.
"""

from __future__ import annotations

from bench.service.config import MAX_BODY_BYTES
from bench.service.idempotency import MAX_KEY_LENGTH
from bench.service.orders import MAX_SYMBOL, MAX_TAGS

INT64_MAX = 2**63 - 1
#: An Idempotency-Key as bench.service.idempotency.check_key takes it: 1 to 255 printable ASCII
#: characters, bare or as an sf-string (in double quotes, which are not part of the key). A
#: bare key neither starts nor ends with a space (HTTP strips those from a header value), nor
#: both starts and ends with a quote (that is the quoted form).
KEY_PATTERN = ("^(?:\"[\\x20-\\x7e]{1,255}\""
               "|[\\x21\\x23-\\x7e](?:[\\x20-\\x7e]{0,253}[\\x21-\\x7e])?"
               "|\"(?:[\\x20-\\x7e]{0,253}[\\x21\\x23-\\x7e])?)$")

_ORDER = {
    "type": "object",
    "description": "An order (impls/serial/order.proto). ts_ns, tags and meta are optional; the gateway stamps "
                   "ts_ns with its receive time when it is 0 or missing.",
    "required": ["id", "user_id", "symbol", "side", "price", "qty"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "minimum": 1, "maximum": INT64_MAX},
        "user_id": {"type": "integer", "minimum": 1, "maximum": INT64_MAX,
                    "description": "the client: the rate limit is per user_id, the ring routes by it"},
        "symbol": {"type": "string", "minLength": 1, "maxLength": MAX_SYMBOL},
        "side": {"type": "string", "enum": ["BUY", "SELL"]},
        "price": {"type": "number", "exclusiveMinimum": 0},
        "qty": {"type": "integer", "minimum": 1, "maximum": INT64_MAX},
        "ts_ns": {"type": "integer", "minimum": -(2**63), "maximum": INT64_MAX},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_TAGS},
        "meta": {"type": "object", "additionalProperties": False,
                 "properties": {"venue": {"type": "string"},
                                "flags": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}}},
    },
}
_ACK = {
    "type": "object", "required": ["order_id", "status", "partition", "ts_ns"],
    "properties": {"order_id": {"type": "integer"}, "status": {"type": "string", "enum": ["accepted"]},
                   "partition": {"type": "integer", "minimum": 0}, "ts_ns": {"type": "integer"}},
}
_ERROR = {
    "type": "object", "required": ["error", "field"],
    "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"],
                                                          "description": "the field at fault, if one is"}},
}


def _error(description: str, headers: dict | None = None) -> dict:
    response = {"description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if headers:
        response["headers"] = headers
    return response


def document(impl: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "hot-path lab order gateway", "version": "1",
                 "description": f"Orders through every hot path of the lab (this process: tier {impl})."},
        "servers": [{"url": "/"}],
        "paths": {
            "/orders": {"post": {
                "operationId": "submitOrder",
                "summary": "Limit, deduplicate, route and append one order to the log",
                "parameters": [{
                    "name": "Idempotency-Key", "in": "header", "required": False,
                    "description": "IETF draft-ietf-httpapi-idempotency-key-header: a repeat with the same key and "
                                   "payload returns the first answer (Idempotent-Replayed: true) and has no second "
                                   "effect; another payload -> 422; while the first is in flight -> 409. Keys "
                                   "expire 24 h after their request completed.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH + 2,
                               "pattern": KEY_PATTERN}}],
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Order"}},
                    "application/msgpack": {"schema": {"$ref": "#/components/schemas/Order"}}}},
                "responses": {
                    "201": {"description": "stored in the log (or the first answer to this Idempotency-Key again)",
                            "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ack"}},
                                        "application/msgpack": {"schema": {"$ref": "#/components/schemas/Ack"}}}},
                    "400": _error("malformed body, a missing or wrong field, or a bad Idempotency-Key"),
                    "409": _error("a request with this Idempotency-Key is still being processed"),
                    "413": _error(f"the body is larger than {MAX_BODY_BYTES} bytes"),
                    "415": _error("the body is neither application/json nor application/msgpack"),
                    "422": _error("this Idempotency-Key was used with a different payload"),
                    "429": _error("the client (user_id) is over its rate limit",
                                  {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}}),
                    "503": _error("Redis or the log did not answer in time; retry"),
                }}},
            "/ping": {"post": {
                "operationId": "ping", "summary": "A trivial request: the stack's floor (reads the body, answers)",
                "responses": {"200": {"description": "pong", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}}}},
                    "413": _error(f"the body is larger than {MAX_BODY_BYTES} bytes")}}},
            "/healthz": {"get": {
                "operationId": "health", "summary": "Alive, and which tier serves each hot path",
                "responses": {"200": {"description": "healthy", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["status", "impl"],
                    "properties": {"status": {"type": "string"}, "impl": {"type": "string"}}}}}}}}},
            "/metrics": {"get": {
                "operationId": "metrics", "summary": "Prometheus metrics (text format)",
                "responses": {"200": {"description": "metrics",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
        "components": {"schemas": {"Order": _ORDER, "Ack": _ACK, "Error": _ERROR}},
    }
