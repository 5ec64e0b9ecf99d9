"""`--summary-json PATH`: the run's final stats and failures as one JSON file, written when Locust
quits (by the local runner or the master, never by a worker).

Why not only the CSV: Locust rewrites its stats CSV every second while it runs and does not
write it again at exit, so the CSV misses the last second's requests and failures; this file is
written after the runner stopped, from the same StatsEntry objects (percentiles are Locust's
own). `python -m bench load` and tests/service/test_locust.py read it; the CSV and HTML are
still written for people.
"""

from __future__ import annotations

import json
import os

from locust import events
from locust.runners import WorkerRunner

PERCENTILES = (0.5, 0.95, 0.99)
_state: dict = {}


@events.init_command_line_parser.add_listener
def _add_arguments(parser) -> None:
    parser.add_argument("--summary-json", default=os.environ.get("LAB_SUMMARY_JSON", ""), include_in_web_ui=False,
                        help="write the final stats and failures here as JSON when Locust quits")


@events.init.add_listener
def _remember(environment, **_kwargs) -> None:
    _state["environment"] = environment


def _entry(entry) -> dict:
    return {"method": entry.method, "name": entry.name, "requests": entry.num_requests,
            "failures": entry.num_failures, "rps": entry.total_rps, "avg_ms": entry.avg_response_time,
            "max_ms": entry.max_response_time,
            **{f"p{round(p * 100)}_ms": entry.get_response_time_percentile(p) for p in PERCENTILES}}


def summary(environment) -> dict:
    stats = environment.runner.stats
    total = stats.total
    elapsed = (total.last_request_timestamp - total.start_time) if total.last_request_timestamp else 0.0
    runner = environment.runner
    return {"entries": [_entry(e) for e in stats.entries.values() if e.num_requests or e.num_failures],
            "total": _entry(total), "seconds": elapsed,
            "failures": [{"method": e.method, "name": e.name, "error": e.to_dict()["error"],
                          "occurrences": e.occurrences} for e in stats.errors.values()],
            "cpu_warning": bool(getattr(runner, "cpu_warning_emitted", False)
                                or getattr(runner, "worker_cpu_warning_emitted", False))}


@events.quit.add_listener
def _write(exit_code, **_kwargs) -> None:
    environment = _state.get("environment")
    if environment is None or environment.runner is None or isinstance(environment.runner, WorkerRunner):
        return
    path = environment.parsed_options.summary_json if environment.parsed_options else ""
    if path:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(summary(environment), file, indent=1)
