"""Count every gated cell under callgrind, a few at a time, with a line of progress each.

The counts do not depend on timing, so cells run side by side (one per core): the gate's
wall time is what parallelism buys, its verdict is the same.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TextIO

from bench.gate.callgrind import Count, GateError, control_library, count
from bench.gate.cells import Key


def default_jobs() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 4))


def count_all(keys: list[Key], tree: Path, jobs: int | None = None,
              stream: TextIO = sys.stderr) -> tuple[dict[Key, Count], list[str]]:
    """(key -> Count of every cell counted, what went wrong with each other cell)."""
    started = time.monotonic()
    counts: dict[Key, Count] = {}
    errors: list[str] = []
    try:
        control_library()  # once, before the cells that load it start
    except GateError as exc:
        return {}, [str(exc)]
    with ThreadPoolExecutor(max_workers=jobs or default_jobs()) as pool:
        futures = {pool.submit(count, key, tree): key for key in keys}
        for done, future in enumerate(as_completed(futures), 1):
            key = futures[future]
            try:
                counts[key] = future.result()
            except GateError as exc:
                errors.append(f"{key}: {exc}")
                shown = "FAILED"
            else:
                shown = f"{counts[key].ir_per_call:,.1f} Ir/call"
            stream.write(f"[{done:>2}/{len(keys)}] {time.monotonic() - started:6.1f}s  callgrind {str(key):<34} "
                         f"{shown}\n")
            stream.flush()
    return {key: counts[key] for key in keys if key in counts}, errors
