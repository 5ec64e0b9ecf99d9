"""asv suites, one module per family, built from bench/cases and the registry.

Benchmark names are history keys (class.method and the parameter values): renaming one, or
dropping a parameter value, loses its history. That is why the implementation parameter
lists every tier and peer the family knows, and `setup` raises NotImplementedError for one
this build lacks (asv then shows the cell as skipped, not gone).

asv runs the suites of the working tree against each commit it measures, installed in its own
virtualenv: the suites import `common` relatively, so that they get this tree's helpers rather
than the (perhaps older) bench.asv.common installed with the commit measured.
"""
