"""asv suites, one module per family, built from bench/cases and the registry.

Benchmark names are history keys (class.method and the parameter values): renaming one, or
dropping a parameter value, loses its history. That is why the implementation parameter
lists every tier and peer the family knows, and `setup` raises NotImplementedError for one
this build lacks (asv then shows the cell as skipped, not gone).
"""
