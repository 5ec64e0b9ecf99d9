"""Inputs of the report's tests: a synthetic results.json of every record shape (synthetic.py),
rendered once per session, and a results.json from a small real harness run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench import report
from tests.report import synthetic

#: A real run small enough for a test (about 15 s here): a scalar and a batch case (the batch
#: plot), a figures case (the balance plot), the spec and one compiled tier.
REAL_RUN = ["--family", "hashring", "--case", "lookup", "--case", "lookup_many", "--case", "balance",
            "--impl", "pure", "--impl", "cython"]


@pytest.fixture(scope="session")
def synthetic_doc() -> dict:
    return synthetic.document()


@pytest.fixture(scope="session")
def synthetic_page(tmp_path_factory, synthetic_doc):
    """(folder, html) of the synthetic document's page, written as `make report` writes it."""
    folder = tmp_path_factory.mktemp("synthetic") / "latest"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(synthetic_doc))
    path = report.write(folder / "results.json", folder / "index.html")
    return folder, path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def real_results(tmp_path_factory):
    """The folder of a small real `python -m bench run --quick` (results.json, summary.md)."""
    folder = tmp_path_factory.mktemp("real")
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--quick", *REAL_RUN, "--out", str(folder)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder
