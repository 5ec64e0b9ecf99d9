"""Schemathesis hooks for the gateway's document, loaded by `st run` through
SCHEMATHESIS_HOOKS=tests.service.schemathesis_hooks:

* msgpack request and response bodies;
* every schema-valid Idempotency-Key of 2 or more characters made unique per request (still
  valid, and as long or longer), so that generated orders rarely share a key by chance: a
  422 then is the gateway keeping its promise, not a contradiction of the schema
  (schemathesis.toml lets it through for the one-character keys that recur).
"""

import math
import re
import uuid

import msgpack
import schemathesis

from bench.service.idempotency import MAX_KEY_LENGTH
from bench.service.openapi import KEY_PATTERN

INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1
_VALID_KEY = re.compile(KEY_PATTERN)


def _packable(value):
    """`value` with the integers msgpack cannot carry as floats -- what a msgpack client of a
    number beyond 64 bits sends (JSON clients send the digits; the gateway reads them as a
    float) -- rounded away from zero, so that one just beyond int64 stays beyond it."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not INT64_MIN <= value <= UINT64_MAX:
        number = float(value)
        if INT64_MIN <= number <= UINT64_MAX:
            number = math.nextafter(number, math.copysign(math.inf, number))
        return number
    if isinstance(value, dict):
        return {k: _packable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_packable(v) for v in value]
    return value


@schemathesis.serializer("application/msgpack")
def to_msgpack(ctx, value):
    return msgpack.packb(_packable(value))


@schemathesis.deserializer("application/msgpack")
def from_msgpack(ctx, response):
    return msgpack.unpackb(response.content)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and isinstance(headers[name], str):
            headers[name] = _unique(headers[name])


def _unique(key: str) -> str:
    """A schema-valid key of 2 or more characters with a fresh token between its first and last
    characters (kept, so it stays valid the same way: quoted or bare), as long as it was or
    longer (up to the longest valid key); others as they are."""
    if len(key) < 2 or not _VALID_KEY.match(key):
        return key
    longest = MAX_KEY_LENGTH + 2 if key[0] == key[-1] == '"' else MAX_KEY_LENGTH
    room = min(max(len(key), 34), longest) - 2
    token = uuid.uuid4().hex * (room // 32 + 1)
    return key[0] + token[:room] + key[-1]
