"""results.json, schema 1 (../shared/DESIGN.md): build, merge, validate, write."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path

import jsonschema

SCHEMA_VERSION = 1
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


def merge(old: dict, new: dict) -> dict:
    """`new` with the figures of `old` that `new` did not measure again (e.g. `bench mem` after `run`)."""
    fresh = {record_key(r) for r in new["results"]}
    kept = [r for r in old.get("results", []) if record_key(r) not in fresh]
    return {**new, "results": kept + new["results"], "skipped": old.get("skipped", []) + new["skipped"]}


def validate(doc: dict) -> None:
    """Raise jsonschema.ValidationError if `doc` is not a schema-1 results document."""
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))


def load(path: Path) -> dict:
    doc = json.loads(Path(path).read_text())
    validate(doc)
    return doc


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
