"""asv suites for the worker pool's work kernel (inputs from bench.cases.workerpool, tiers from the registry)."""

from bench import lineup
from bench.asv.common import impl_or_skip, impl_param, require
from bench.cases.workerpool import BATCH, WORK_US, payloads
from impls.workerpool.kernel_contract import rounds_for

FAMILY = "workerpool"
IMPLS = impl_param(FAMILY)


class Kernel:
    params = (
        IMPLS,          # tier
        list(WORK_US),  # compiled microseconds of work per message: 0 (decoding alone) and 20 (CPU-bound)
    )
    param_names = ["impl", "work_us"]
    timeout = 300  # pure at work_us=20: about 2 s a call

    def setup(self, impl, work_us):
        self.module = impl_or_skip(FAMILY, impl, roles=(lineup.TIER,)).module
        require(self.module, "process_batch")
        self.payloads, self.rounds = payloads(BATCH), rounds_for(work_us)

    def time_process_batch(self, impl, work_us):
        """process_batch over 1000 orders (~1% poison)."""
        self.module.process_batch(self.payloads, self.rounds)
