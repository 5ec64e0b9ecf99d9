"""The performance gate (`make gate`): did this tree make any hot path slower than its
accepted baseline?

- `cells`: what is gated -- one call path per (family, main case, tier), a small workload
  built by the case's own `prepare` and checked by the case's own check;
- `probe`: the child process that warms a cell up and runs its loops (counted, timed or only
  checked);
- `callgrind`: the blocking measure, instructions per call under callgrind, and everything
  that keeps it the same from run to run and machine to machine;
- `counting`: every cell counted, side by side;
- `baseline`: the accepted counts (baseline.json) and the tools they were counted with;
- `verdict`: the judgement (fails at 1.05x) and its messages;
- `wall`: wall time base-vs-head, interleaved, Mann-Whitney-tested, reported, not blocking;
- `run`: the check and accept flows; `selftest`: injected slowdowns the gate must catch.
"""
