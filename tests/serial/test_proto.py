"""order_pb2.py is generated from order.proto and committed: regenerate it and compare."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

SERIAL = Path(__file__).resolve().parents[2] / "impls" / "serial"


def _serialized_descriptor(module_text: str) -> str:
    """The FileDescriptorProto literal a generated module registers: what the .proto means,
    without the protoc version header, which changes with every grpcio-tools release."""
    return re.search(r"AddSerializedFile\((b'.*?')\)\n", module_text, re.S).group(1)


def test_committed_order_pb2_is_what_protoc_generates(tmp_path):
    """Fails when order.proto changed without regenerating:
    python -m grpc_tools.protoc -I impls/serial --python_out=impls/serial --pyi_out=impls/serial impls/serial/order.proto
    """
    done = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{SERIAL}", f"--python_out={tmp_path}",
                           f"--pyi_out={tmp_path}", str(SERIAL / "order.proto")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    fresh = _serialized_descriptor((tmp_path / "order_pb2.py").read_text())
    assert fresh == _serialized_descriptor((SERIAL / "order_pb2.py").read_text()), "order_pb2.py is stale: regenerate it"
    for name in ("Order", "Meta", "OrderBatch", "Side"):
        assert f"class {name}(" in (SERIAL / "order_pb2.pyi").read_text(), f"order_pb2.pyi lacks {name}: regenerate it"


def test_protobuf_runtime_accepts_the_generated_code():
    """The generated module checks the runtime's version against the protoc that made it."""
    from google.protobuf import runtime_version

    from impls.serial import order_pb2

    assert order_pb2.Order.DESCRIPTOR.full_name == "lab.Order"
    generated = (SERIAL / "order_pb2.py").read_text()
    major = int(generated.split("_runtime_version.Domain.PUBLIC,\n")[1].split(",")[0])
    assert runtime_version.OSS_MAJOR == major


@pytest.mark.parametrize("field,number", [("id", 1), ("user_id", 2), ("symbol", 3), ("side", 4), ("price", 5),
                                          ("qty", 6), ("ts_ns", 7), ("tags", 8), ("meta", 9)])
def test_schema_field_numbers_are_the_ones_the_codecs_use(field, number):
    from impls.serial import checks, order_pb2

    assert order_pb2.Order.DESCRIPTOR.fields_by_name[field].number == number
    assert checks.ORDER_KEYS[number - 1] == field
