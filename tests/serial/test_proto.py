"""order_pb2.py is generated from order.proto and committed: regenerate it and compare; schema.py
is the same schema as the generated descriptors describe."""

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


def _schema_type(field) -> str:
    """A descriptor field's type as schema.Field.type spells it."""
    from google.protobuf.descriptor import FieldDescriptor

    names = {FieldDescriptor.TYPE_INT64: "int64", FieldDescriptor.TYPE_UINT32: "uint32",
             FieldDescriptor.TYPE_STRING: "string", FieldDescriptor.TYPE_DOUBLE: "double"}
    if field.type == FieldDescriptor.TYPE_ENUM:
        name = field.enum_type.name
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        name = field.message_type.name
    else:
        name = names[field.type]
    return f"repeated {name}" if field.is_repeated else name


@pytest.mark.parametrize("message,fields", [("Order", "ORDER_FIELDS"), ("Meta", "META_FIELDS"),
                                            ("OrderBatch", "BATCH_ORDERS")])
def test_schema_is_the_one_order_proto_describes(message, fields):
    """schema.py's field table (names, numbers, types, in field-number order) is order.proto's."""
    from impls.serial import order_pb2, schema

    ours = getattr(schema, fields)
    ours = ours if isinstance(ours, tuple) else (ours,)
    described = sorted(getattr(order_pb2, message).DESCRIPTOR.fields, key=lambda f: f.number)
    assert [(f.name, f.number, f.type) for f in ours] == [(f.name, f.number, _schema_type(f)) for f in described]


def test_schema_side_names_are_the_enums():
    from impls.serial import order_pb2, schema

    assert schema.SIDE_NAMES == tuple(v.name for v in sorted(order_pb2.Side.DESCRIPTOR.values, key=lambda v: v.number))
    assert [v.number for v in order_pb2.Side.DESCRIPTOR.values] == list(range(len(schema.SIDE_NAMES)))


def test_every_tag_is_the_one_byte_upb_writes():
    """Each Field's tag is the first byte upb writes for that field alone (one byte: the
    compiled encoders write every tag as one)."""
    from impls.serial import order_pb2, schema

    samples = {"int64": -1, "uint32": 1, "string": "x", "double": 1.5, "Side": "BUY", "repeated string": ["x"],
               "Meta": {"venue": "x"}}
    for message, fields in ((order_pb2.Order, schema.ORDER_FIELDS), (order_pb2.Meta, schema.META_FIELDS)):
        for field in fields:
            data = message(**{field.name: samples[field.type]}).SerializeToString()
            assert field.tag < 0x80 and data[0] == field.tag, field
    batch = order_pb2.OrderBatch(orders=[order_pb2.Order()]).SerializeToString()
    assert batch[0] == schema.BATCH_ORDERS.tag < 0x80
