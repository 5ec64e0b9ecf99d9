"""asv suites for hash rings (inputs from bench.cases.hashring, implementations from the registry)."""

from bench.cases.hashring import LOOKUP_KEYS, NODE_COUNTS, VNODES, key_hashes, keys, load_balance, node_names
from .common import impl_param, load_or_skip, require, sized

FAMILY = "hashring"
IMPLS = impl_param(FAMILY)
BATCH = sized(100_000, 10_000)  # keys per batch call: large enough for per-key figures, small enough for asv's repeats


class RingLookup:
    params = (
        IMPLS,        # tier or peer
        NODE_COUNTS,  # nodes in the ring, 160 vnodes each
    )
    param_names = ["impl", "nodes"]

    def setup(self, impl, nodes):
        module = load_or_skip(FAMILY, impl)
        require(module, "Ring")
        self.ring = module.Ring(node_names(nodes), VNODES)
        self.keys = keys(LOOKUP_KEYS)
        self.batch = keys(BATCH)

    def time_1000_lookups(self, impl, nodes):
        """1000 single lookups of distinct str keys.

        A loop, not one call: asv times a single call per sample when a benchmark has a setup
        (asv#966), which for a sub-microsecond call would measure the timer, not the lookup.
        """
        lookup = self.ring.lookup
        for key in self.keys:
            lookup(key)

    def time_lookup_many(self, impl, nodes):
        """A batch of 100k str keys, hashing included."""
        self.ring.lookup_many(self.batch)


class RingBuild:
    params = (IMPLS, NODE_COUNTS)
    param_names = ["impl", "nodes"]
    timeout = 120

    def setup(self, impl, nodes):
        self.module = load_or_skip(FAMILY, impl)
        require(self.module, "Ring")
        self.names = node_names(nodes)

    def time_build(self, impl, nodes):
        self.module.Ring(self.names, VNODES)

    def peakmem_build(self, impl, nodes):
        self.module.Ring(self.names, VNODES)


class RingChurn:
    params = (IMPLS, NODE_COUNTS)
    param_names = ["impl", "nodes"]

    def setup(self, impl, nodes):
        module = load_or_skip(FAMILY, impl)
        require(module, "Ring")
        self.ring = module.Ring(node_names(nodes), VNODES)
        self.extra = node_names(nodes + 1)[-1]

    def time_add_remove(self, impl, nodes):
        """Add one node, then remove it again (state is restored, so asv may repeat it)."""
        self.ring.add(self.extra)
        self.ring.remove(self.extra)


class RingBalance:
    params = (IMPLS, NODE_COUNTS)
    param_names = ["impl", "nodes"]
    unit = "std/mean"
    timeout = 120

    def setup(self, impl, nodes):
        module = load_or_skip(FAMILY, impl)
        require(module, "Ring")
        self.names = node_names(nodes)
        self.owners = module.Ring(self.names, VNODES).lookup_many(keys(BATCH))

    def track_balance(self, impl, nodes):
        """Standard deviation over mean of keys per node (100k keys)."""
        return load_balance(self.owners, self.names)[0]


class JumpHash:
    params = (IMPLS, NODE_COUNTS)
    param_names = ["impl", "buckets"]

    def setup(self, impl, buckets):
        self.module = load_or_skip(FAMILY, impl)
        require(self.module, "jump_many")
        self.hashes = key_hashes(BATCH)
        self.scalar_hashes = [int(h) for h in self.hashes[:1000]]

    def time_1000_jumps(self, impl, buckets):
        """1000 scalar jump() calls (a loop, for the reason given in RingLookup.time_1000_lookups)."""
        jump = self.module.jump
        for h in self.scalar_hashes:
            jump(h, buckets)

    def time_jump_many(self, impl, buckets):
        self.module.jump_many(self.hashes, buckets)
