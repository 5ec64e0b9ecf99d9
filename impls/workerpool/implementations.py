"""The workerpool family's implementations, as `impls.registry` reads them (nothing is imported here).

The tiers are the work kernel's (`process_batch`: impls.workerpool.kernel_contract); the pool
around it (offsets, flow, lanes, pool, sink) is plain Python shared by every tier.
"""

#: Tier name -> module inside impls.workerpool, in the order they are reported; `pure` is the
#: specification every other tier is checked against.
TIERS = {"pure": "pure", "cython": "_cy", "numba": "nb"}

#: The tier the public API (`impls.workerpool.process_batch`) uses when LAB_IMPL is unset: the
#: first that loads. Cython first (both compiled tiers release the GIL for the rounds, but
#: Cython starts in 0.14 s where Numba takes 0.6 s to load its cached kernels), then Numba, then pure.
PREFERENCE = ("cython", "numba", "pure")

#: Backend name -> module: the logs the pool drains (impls.workerpool.log is their interface).
BACKENDS = {"kafka": "log_kafka", "redis": "log_redis"}
