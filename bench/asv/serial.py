"""asv suites for the order codecs (orders from bench.cases.serial, implementations from the
registry and bench.peers). Each class asks one question in one wire format; a cell whose
implementation does not speak that format is skipped in setup (NotImplementedError)."""

from bench.cases.serial import BATCH as FULL_BATCH
from bench.cases.serial import DISTINCT, QUICK_BATCH, codec, orders
from .common import impl_or_skip, impl_param, load_or_skip, require, sized

FAMILY = "serial"
IMPLS = impl_param(FAMILY)
FORMATS = ["protobuf", "msgpack", "json"]
BATCH = sized(FULL_BATCH, QUICK_BATCH)  # orders in a batch message


def _codec_or_skip(impl, fmt, batch=False):
    c = codec(impl_or_skip(FAMILY, impl), fmt)
    if c is None or (batch and c.encode_batch is None):
        raise NotImplementedError(f"{impl} has no {fmt} {'batch ' if batch else ''}codec")
    return c


class OrderCodec:
    """One order at a time: encode and decode, cycling through varied orders."""

    params = (
        IMPLS,    # tier or peer
        FORMATS,  # wire format; each implementation speaks its own
    )
    param_names = ["impl", "format"]

    def setup(self, impl, fmt):
        self.c = _codec_or_skip(impl, fmt)
        self.natives = [self.c.native(o) for o in orders(DISTINCT)]
        self.data = [self.c.encode(n) for n in self.natives]

    def time_encode(self, impl, fmt):
        """DISTINCT orders encoded one by one."""
        encode = self.c.encode
        for native in self.natives:
            encode(native)

    def time_decode(self, impl, fmt):
        """DISTINCT messages decoded one by one."""
        decode = self.c.decode
        for data in self.data:
            decode(data)

    def track_bytes_per_msg(self, impl, fmt):
        return sum(map(len, self.data)) / len(self.data)

    track_bytes_per_msg.unit = "bytes"


class BatchCodec:
    """A batch of 10k orders as one message."""

    params = (IMPLS, FORMATS)
    param_names = ["impl", "format"]
    timeout = 120

    def setup(self, impl, fmt):
        self.c = _codec_or_skip(impl, fmt, batch=True)
        self.native = self.c.native_batch(orders(BATCH))
        self.data = self.c.encode_batch(self.native)

    def time_encode_batch(self, impl, fmt):
        self.c.encode_batch(self.native)

    def time_decode_batch(self, impl, fmt):
        self.c.decode_batch(self.data)

    def peakmem_decode_batch(self, impl, fmt):
        self.c.decode_batch(self.data)


class Columns:
    """The Numba tier's columnar path and its conversions, on a 10k batch."""

    params = (IMPLS,)
    param_names = ["impl"]

    def setup(self, impl):
        self.module = load_or_skip(FAMILY, impl)
        require(self.module, "encode_columns")
        self.orders = orders(BATCH)
        self.cols = self.module.columns_from_orders(self.orders)
        self.data = self.module.encode_columns(self.cols)

    def time_encode_columns(self, impl):
        self.module.encode_columns(self.cols)

    def time_decode_columns(self, impl):
        self.module.decode_columns(self.data)

    def time_columns_from_orders(self, impl):
        self.module.columns_from_orders(self.orders)

    def time_orders_from_columns(self, impl):
        self.module.orders_from_columns(self.cols)
