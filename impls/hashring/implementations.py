"""The hash-ring family's implementations, as `impls.registry` reads them (nothing is imported here)."""

#: Tier name -> module inside impls.hashring, in the order they are reported; `pure` is the
#: specification every other tier is checked against.
TIERS = {"pure": "pure", "cython": "_cy", "numba": "nb"}

#: The tier the public API (`impls.hashring`) uses when LAB_IMPL is unset: the first that loads.
#: Cython first (fastest from Python for single calls), then Numba (fast batches), then pure.
PREFERENCE = ("cython", "numba", "pure")

#: Backend name -> module: the contract over an external server. A ring lives in process only.
BACKENDS: dict[str, str] = {}
