"""results.json: build, upgrade, merge, validate, write; and reading records side by side.

Schema 2 (bench/results.schema.json, the one definition) adds to each record of schema 1:
- `role`: "tier", "backend" or "peer" -- who produced the figure, so no reader guesses it from
  a name (the Redis limiter is the backend "redis", not a figure in pure's column);
- `better`: "lower" or "higher" -- the metric's direction, which summary, targets, compare and
  the gate use instead of assuming that lower is better;
- optionally `percentiles` (a distribution, e.g. latencies) and `cpu` (the CPU time of the
  measured process, in the record's unit, beside the wall-clock `value`).
Schema-1 files still validate (the same definition admits them) and are upgraded when loaded:
roles from the names (`peer:` prefix, else tier) and directions from the units (per-second
rates are better higher, everything else lower) -- true of every figure schema 1 held.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path

import jsonschema

SCHEMA_VERSION = 2
SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
DEFAULT_OUT = Path("reports/latest")

#: Packages whose versions go into env.packages: what the figures depend on.
PACKAGES = (
    "numpy", "numba", "cython", "uhashring", "redis", "hiredis", "protobuf", "orjson",
    "msgpack", "msgspec", "limits", "pyrate-limiter", "grpcio", "locust", "memray", "pyinstrument",
)


def _git() -> dict:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status)}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "cpu": _cpu_model(), "cores": os.cpu_count() or 1,
            "packages": packages}


def new_document(records: list[dict], skipped: list[dict] | None = None) -> dict:
    return {
        "schema": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": _git(),
        "env": environment(),
        "results": records,
        "skipped": skipped or [],
    }


# --- records side by side ------------------------------------------------------------------------

def record_key(record: dict) -> tuple:
    """Identity of a figure: a newer figure with the same key replaces an older one."""
    params = json.dumps(record["params"], sort_keys=True)
    return record["family"], record["case"], record["impl"], params, record["metric"]


def cells(doc: dict) -> dict[str, dict[tuple, dict[str, dict]]]:
    """family -> (case, params as canonical JSON, metric) -> impl -> record: the figures that
    sit side by side in one row, in the order they were first measured."""
    grouped: dict[str, dict[tuple, dict[str, dict]]] = {}
    for r in doc["results"]:
        row = (r["case"], json.dumps(r["params"], sort_keys=True), r["metric"])
        grouped.setdefault(r["family"], {}).setdefault(row, {})[r["impl"]] = r
    return grouped


def advantage(record: dict, over: dict) -> float | None:
    """How many times better `record` is than `over`, in the metric's direction (> 1: better);
    None where a ratio means nothing (a zero or negative figure)."""
    a, b = record["value"], over["value"]
    if a <= 0 or b <= 0:
        return None
    return b / a if record["better"] == "lower" else a / b


def best(records: list[dict]) -> dict:
    """The best of figures of one metric, in its direction."""
    pick = min if records[0]["better"] == "lower" else max
    return pick(records, key=lambda r: r["value"])


# --- files -----------------------------------------------------------------------------------------

def _direction_of_schema1(record: dict) -> str:
    return "higher" if record["unit"].endswith("/s") else "lower"


def upgrade(doc: dict) -> dict:
    """A schema-1 document as schema 2 (see the module doc); a schema-2 one as it is."""
    if doc.get("schema") != 1:
        return doc
    upgraded = []
    for r in doc["results"]:
        role = "peer" if r["impl"].startswith("peer:") else "tier"
        upgraded.append({**r, "role": r.get("role", role), "better": r.get("better", _direction_of_schema1(r))})
    return {**doc, "schema": SCHEMA_VERSION, "results": upgraded}


def merge(old: dict, new: dict) -> dict:
    """`new` with the figures of `old` that `new` did not measure again (e.g. `bench mem` after `run`)."""
    fresh = {record_key(r) for r in new["results"]}
    kept = [r for r in old.get("results", []) if record_key(r) not in fresh]
    return {**new, "results": kept + new["results"], "skipped": old.get("skipped", []) + new["skipped"]}


def validate(doc: dict) -> None:
    """Raise jsonschema.ValidationError if `doc` is not a results document (schema 1 or 2)."""
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))


def load(path: Path) -> dict:
    """A results file, validated, as schema 2."""
    doc = json.loads(Path(path).read_text())
    validate(doc)
    return upgrade(doc)


def write(doc: dict, out_dir: Path, *, merge_existing: bool = False) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    if merge_existing and path.exists():
        try:
            doc = merge(load(path), doc)
        except (ValueError, jsonschema.ValidationError):
            pass  # an unreadable old file is replaced, not merged
    validate(doc)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path
