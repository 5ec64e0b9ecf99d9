"""Third-party libraries that do a family's job, named `peer:<library>`.

Each family's peers are listed in `bench/peers/<family>.py` as `PEERS = {name: adapter}`,
where an adapter exposes the subset of the family contract the library supports.
"""

from __future__ import annotations

import importlib


def peers(family: str) -> dict:
    """name -> adapter for the family's peers (an empty dict if it has none)."""
    try:
        module = importlib.import_module(f"bench.peers.{family}")
    except ModuleNotFoundError as exc:
        if exc.name == f"bench.peers.{family}":
            return {}
        raise
    return dict(module.PEERS)
