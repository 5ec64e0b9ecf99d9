"""The serial family's implementations, as `impls.registry` reads them (nothing is imported here)."""

#: Tier name -> module inside impls.serial, in the order they are reported; `pure` is the
#: specification every other tier is checked against.
TIERS = {"pure": "pure", "cython": "_cy", "numba": "nb"}

#: The tier the public API (`impls.serial`) uses when LAB_IMPL is unset: the first that loads.
#: Cython first (dicts to bytes and back without upb objects), then Numba, then pure.
PREFERENCE = ("cython", "numba", "pure")

#: Backend name -> module. A codec has no server.
BACKENDS: dict[str, str] = {}
