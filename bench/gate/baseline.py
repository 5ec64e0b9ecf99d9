"""The accepted baseline: instructions per call of every gated cell, and what measured them.

Why a committed baseline rather than a base measured again in every run: the counts are
reproducible across machines of this kind (bench.gate.callgrind: CPU dispatch masked, no
address randomisation, the same entropy and an allocator whose cost has no history), so a
number measured once is as good as one measured a minute ago -- and the gate counts one tree
instead of two. They are reproducible only with the same tools, though: another CPython,
numpy, Numba/llvmlite, Cython, C compiler, glibc or valgrind executes other instructions for
the same code. So the baseline records them, and the gate refuses to compare (exit 2) when any
differs, rather than call the difference a regression or hide one: accept a new baseline
then, on purpose (`make gate-accept`, the reason in the commit message).

Each cell also records its definition -- case, parameters, calls per loop and a fingerprint of
its inputs (a case's input builder may change): a cell whose definition changed measures
something else, and is not compared either.
"""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.gate.callgrind import Count, valgrind_version
from bench.gate.cells import Key, all_keys, cell

PATH = Path(__file__).with_name("baseline.json")
SCHEMA = 1


def _compiler() -> str:
    try:
        done = subprocess.run(["cc", "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"unavailable ({exc})"
    return done.stdout.splitlines()[0].strip()


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def toolchain() -> dict[str, str]:
    """Everything that decides which instructions the gated code executes, besides the lab."""
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": _version("numpy"),
        "numba": _version("numba"),
        "llvmlite": _version("llvmlite"),
        "cython": _version("cython"),
        "cc": _compiler(),
        "glibc": " ".join(platform.libc_ver()),
        "valgrind": valgrind_version(),
        "machine": platform.machine(),
    }


def definition(count: Count) -> str:
    """What the cell measured, as text: a changed definition is another measure."""
    c = cell(count.key.family, count.key.case)
    params = " ".join(f"{k}={v}" for k, v in c.params.items())
    return f"{c.name} {params} calls={c.calls} {c.loop_calls.__name__} inputs={count.inputs}"


@dataclass(frozen=True)
class Baseline:
    counts: dict[str, float]
    definitions: dict[str, str]
    toolchain: dict[str, str]
    #: when and on which commit it was accepted (for the wall-time comparison's base, see
    #: bench.gate.wall, the commit that last changed this file is used instead)
    accepted: dict[str, str]

    def differences(self, current_toolchain: dict[str, str]) -> list[str]:
        """How the current tools differ from the ones that counted the baseline (empty: they do not)."""
        names = sorted(set(self.toolchain) | set(current_toolchain))
        return [f"{name}: baseline {self.toolchain.get(name, '(not recorded)')!r}, "
                f"now {current_toolchain.get(name, '(not recorded)')!r}"
                for name in names if self.toolchain.get(name) != current_toolchain.get(name)]

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "measure": "instructions per call (callgrind Ir)", "accepted": self.accepted,
                "toolchain": self.toolchain,
                "cells": {name: {"ir_per_call": self.counts[name], "definition": self.definitions[name]}
                          for name in sorted(self.counts)}}


class BaselineMissing(FileNotFoundError):
    pass


def load(path: Path = PATH) -> Baseline:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise BaselineMissing(f"no accepted baseline at {path}: run `make gate-accept`") from None
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"{path}: schema {doc.get('schema')!r}, expected {SCHEMA}: run `make gate-accept`")
    cells = doc["cells"]
    return Baseline(counts={k: float(v["ir_per_call"]) for k, v in cells.items()},
                    definitions={k: v["definition"] for k, v in cells.items()},
                    toolchain=doc["toolchain"], accepted=doc["accepted"])


def _head(tree: Path) -> str:
    done = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=tree,
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "not a git tree"


def accepted(counts: dict[Key, Count], tree: Path, tools: dict[str, str]) -> Baseline:
    """A new baseline of `counts` (every gated cell), measured in `tree` with `tools`."""
    missing = [str(k) for k in all_keys() if k not in counts]
    if missing:
        raise ValueError(f"a baseline covers every gated cell; not measured: {', '.join(missing)}")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Baseline(counts={str(k): round(c.ir_per_call, 2) for k, c in counts.items()},
                    definitions={str(k): definition(c) for k, c in counts.items()},
                    toolchain=tools, accepted={"at": when, "tree": _head(tree)})


def save(baseline: Baseline, path: Path = PATH) -> None:
    path.write_text(json.dumps(baseline.to_json(), indent=2, ensure_ascii=False) + "\n")
