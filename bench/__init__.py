"""How the lab measures: the `python -m bench` CLI, the timing harness, peers, backends,
asv suites and profilers. `bench` imports `impls`; `impls` never imports `bench`."""
