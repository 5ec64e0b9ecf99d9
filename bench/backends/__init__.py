"""Real backends the lab starts itself (or finds through an environment variable): Redis.

A long-lived tool (the bench harness) shares one server of each kind for a whole run; each
backend module registers how to stop its shared server here, and `shared_servers()` stops them
all when the run ends -- on success, failure and Ctrl-C alike -- rather than at interpreter exit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

_stoppers: list[Callable[[], None]] = []


def on_run_end(stop: Callable[[], None]) -> None:
    """Register `stop` (idempotent) to stop a backend's shared server when a run ends."""
    if stop not in _stoppers:
        _stoppers.append(stop)


@contextlib.contextmanager
def shared_servers() -> Iterator[None]:
    """A run's scope: every shared server started inside it is stopped when it ends."""
    try:
        yield
    finally:
        for stop in reversed(_stoppers):
            stop()
