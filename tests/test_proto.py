"""tbtool's .proto schemas: generated code up to date, coexistence, TensorBoard wire compatibility.

* staleness: the committed ``*_pb2.py`` modules embed exactly the descriptors that the
  installed protoc produces from the ``.proto`` files (independent of protoc's version);
* schema parity: every message/enum we declare has the field numbers, types, labels and
  names of TensorBoard's message of the same role;
* coexistence: ours and TensorBoard's / tensorboardX's / torch's / TensorFlow's generated
  modules load into one process, in either order;
* wire compatibility: messages written with TensorBoard's classes parse with ours (and
  back) byte for byte and field for field.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tensorboard
from google.protobuf import descriptor_pb2, struct_pb2, text_format
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorboard.compat.proto import attr_value_pb2 as tb_attr_value
from tensorboard.compat.proto import config_pb2 as tb_config
from tensorboard.compat.proto import event_pb2 as tb_event
from tensorboard.compat.proto import graph_pb2 as tb_graph
from tensorboard.compat.proto import histogram_pb2 as tb_histogram
from tensorboard.compat.proto import summary_pb2 as tb_summary
from tensorboard.compat.proto import tensor_pb2 as tb_tensor
from tensorboard.plugins.custom_scalar import layout_pb2 as tb_layout
from tensorboard.plugins.hparams import plugin_data_pb2 as tb_hparams
from tensorboard.plugins.mesh import plugin_data_pb2 as tb_mesh
from tensorboard.plugins.projector import projector_config_pb2 as tb_projector

from tbtool.proto import (
    attr_value_pb2,
    custom_scalar_layout_pb2,
    event_pb2,
    graph_pb2,
    histogram_pb2,
    hparams_pb2,
    mesh_pb2,
    node_def_pb2,
    plugin_data_pb2,
    projector_config_pb2,
    run_metadata_pb2,
    summary_pb2,
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
    versions_pb2,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = REPO_ROOT / "tbtool" / "proto"
PROTO_FILES = sorted(PROTO_DIR.glob("*.proto"))
OUR_PACKAGES = {"tbtool", "tbtool.hparams", "tbtool.mesh", "tbtool.projector"}
REGEN_HINT = "run `python scripts/gen_protos.py` (with grpcio-tools==1.62.3) to regenerate"


def _module_name(proto: Path) -> str:
    return f"tbtool.proto.{proto.stem}_pb2"


def _file_proto(module) -> descriptor_pb2.FileDescriptorProto:
    return descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)


def _strip_json_names(msg: descriptor_pb2.DescriptorProto) -> None:
    # protoc's descriptor sets always carry json_name; the embedded descriptors in
    # generated Python code do not. We never set json_name explicitly, so drop it.
    for field in [*msg.field, *msg.extension]:
        field.ClearField("json_name")
    for nested in msg.nested_type:
        _strip_json_names(nested)


def _normalized(fdp: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    out = descriptor_pb2.FileDescriptorProto()
    out.CopyFrom(fdp)
    out.ClearField("source_code_info")
    for msg in out.message_type:
        _strip_json_names(msg)
    for ext in out.extension:
        ext.ClearField("json_name")
    return out


# --------------------------------------------------------------------------------------------
# Staleness of the generated code
# --------------------------------------------------------------------------------------------


def test_every_proto_has_generated_modules_and_vice_versa():
    assert PROTO_FILES, f"no .proto files in {PROTO_DIR}"
    stems = {p.stem for p in PROTO_FILES}
    for ext in ("py", "pyi"):
        generated = {p.name[: -len(f"_pb2.{ext}")] for p in PROTO_DIR.glob(f"*_pb2.{ext}")}
        missing = sorted(stems - generated)
        orphans = sorted(generated - stems)
        assert not missing, f"no _pb2.{ext} for {missing}: {REGEN_HINT}"
        assert not orphans, f"_pb2.{ext} without a .proto: {orphans}: {REGEN_HINT}"


@pytest.fixture(scope="module")
def compiled_descriptors(tmp_path_factory) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """Compile every .proto with the installed protoc (whatever its version)."""
    grpc_tools = pytest.importorskip("grpc_tools")
    include = Path(grpc_tools.__file__).resolve().parent / "_proto"
    out = tmp_path_factory.mktemp("protoc") / "descriptors.pb"
    rel = [p.relative_to(REPO_ROOT).as_posix() for p in PROTO_FILES]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{REPO_ROOT}",
            f"-I{include}",
            f"--descriptor_set_out={out}",
            *rel,
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"protoc failed on tbtool/proto/*.proto:\n{proc.stderr}"
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return {f.name: f for f in fds.file}


@pytest.mark.parametrize("proto", PROTO_FILES, ids=lambda p: p.name)
def test_generated_code_is_up_to_date(proto, compiled_descriptors):
    name = proto.relative_to(REPO_ROOT).as_posix()
    assert name in compiled_descriptors
    expected = _normalized(compiled_descriptors[name])
    try:
        module = importlib.import_module(_module_name(proto))
    except ImportError as e:  # pragma: no cover - only when the module is missing/broken
        pytest.fail(f"{name}: cannot import {_module_name(proto)} ({e}); {REGEN_HINT}")
    committed = _normalized(_file_proto(module))
    if committed != expected:
        diff = "\n".join(
            list(
                difflib.unified_diff(
                    text_format.MessageToString(committed).splitlines(),
                    text_format.MessageToString(expected).splitlines(),
                    "committed",
                    "from .proto",
                    lineterm="",
                )
            )[:60]
        )
        pytest.fail(f"{name}: generated {proto.stem}_pb2.py is stale; {REGEN_HINT}\n{diff}")


@pytest.mark.parametrize("proto", PROTO_FILES, ids=lambda p: p.name)
def test_stub_declares_every_top_level_type(proto):
    module = importlib.import_module(_module_name(proto))
    stub = (PROTO_DIR / f"{proto.stem}_pb2.pyi").read_text()
    for name in [*module.DESCRIPTOR.message_types_by_name, *module.DESCRIPTOR.enum_types_by_name]:
        assert f"class {name}(" in stub, f"{proto.stem}_pb2.pyi lacks {name}; {REGEN_HINT}"


@pytest.mark.parametrize("proto", PROTO_FILES, ids=lambda p: p.name)
def test_packages_are_our_own(proto):
    fdp = _file_proto(importlib.import_module(_module_name(proto)))
    assert fdp.package in OUR_PACKAGES
    assert fdp.syntax == "proto3"
    for dep in fdp.dependency:
        assert dep.startswith(("tbtool/proto/", "google/protobuf/")), dep


# --------------------------------------------------------------------------------------------
# Schema parity with TensorBoard's descriptors
# --------------------------------------------------------------------------------------------

_TB = "tensorboard.compat.proto."
_TB_PLUGINS = "tensorboard.plugins."
# our module -> TensorBoard modules holding the messages of the same role
COUNTERPARTS = {
    "types": [_TB + "types_pb2"],
    "tensor_shape": [_TB + "tensor_shape_pb2"],
    "resource_handle": [_TB + "resource_handle_pb2"],
    "tensor": [_TB + "tensor_pb2"],
    "histogram": [_TB + "histogram_pb2"],
    "summary": [_TB + "summary_pb2"],
    "event": [_TB + "event_pb2"],
    "attr_value": [_TB + "attr_value_pb2"],
    "node_def": [_TB + "node_def_pb2", _TB + "full_type_pb2"],
    "versions": [_TB + "versions_pb2"],
    "graph": [_TB + "graph_pb2"],
    "run_metadata": [
        _TB + "config_pb2",
        _TB + "step_stats_pb2",
        _TB + "cost_graph_pb2",
        _TB + "tensor_description_pb2",
        _TB + "allocation_description_pb2",
    ],
    "plugin_data": [
        f"{_TB_PLUGINS}{p}.plugin_data_pb2"
        for p in ("scalar", "histogram", "text", "image", "audio", "pr_curve")
    ],
    "custom_scalar_layout": [_TB_PLUGINS + "custom_scalar.layout_pb2"],
    "hparams": [_TB_PLUGINS + "hparams.plugin_data_pb2", _TB_PLUGINS + "hparams.api_pb2"],
    "mesh": [_TB_PLUGINS + "mesh.plugin_data_pb2"],
    "projector_config": [_TB_PLUGINS + "projector.projector_config_pb2"],
}
# Fields TensorBoard declares that we deliberately leave undeclared (kept as unknown fields).
OMITTED_FIELDS = {"GraphDef": {"library", "debug_info"}}
# Our schemas follow TensorBoard 2.21. Older TensorBoard releases lack some enum values that
# were added later (e.g. DT_FLOAT4_E2M1FN in 2.21); with those, ours may be a superset.
TB_VERSION = tuple(int(x) for x in tensorboard.__version__.split(".")[:2])
EXACT_ENUMS = TB_VERSION >= (2, 21)


def _enum_values_compatible(ours: dict[str, int], theirs: dict[str, int]) -> bool:
    """Same names and numbers; on TensorBoard < 2.21 ours may have extra values."""
    if EXACT_ENUMS:
        return ours == theirs
    return all(ours.get(name) == number for name, number in theirs.items())


def _local_name(full_name: str) -> str:
    for prefix in (
        "tensorboard.hparams.",
        "tensorboard.mesh.",
        "tensorboard.projector.",
        "tensorboard.",
        "tbtool.hparams.",
        "tbtool.mesh.",
        "tbtool.projector.",
        "tbtool.",
    ):
        if full_name.startswith(prefix):
            return full_name[len(prefix) :]
    return full_name  # google.protobuf.*


_FD = descriptor_pb2.FieldDescriptorProto
_UNPACKABLE = {_FD.TYPE_STRING, _FD.TYPE_BYTES, _FD.TYPE_MESSAGE, _FD.TYPE_GROUP}


def _field_sig(f: descriptor_pb2.FieldDescriptorProto, msg: descriptor_pb2.DescriptorProto):
    repeated = f.label == _FD.LABEL_REPEATED
    # Both sides are proto3, where repeated scalars are packed unless told otherwise.
    packed = repeated and f.type not in _UNPACKABLE
    if f.options.HasField("packed"):
        packed = f.options.packed
    return (
        f.name,
        f.number,
        _FD.Type.Name(f.type),
        _FD.Label.Name(f.label),
        _local_name(f.type_name.lstrip(".")) if f.type_name else None,
        msg.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None,
        packed,
    )


def _enum_sig(e: descriptor_pb2.EnumDescriptorProto) -> dict[str, int]:
    return {v.name: v.number for v in e.value}


def _message_diffs(ours, theirs, path: str) -> list[str]:
    diffs = []
    omitted = OMITTED_FIELDS.get(path, set())
    our_fields = {f.number: _field_sig(f, ours) for f in ours.field}
    their_fields = {f.number: _field_sig(f, theirs) for f in theirs.field if f.name not in omitted}
    for num in sorted(set(our_fields) | set(their_fields)):
        if our_fields.get(num) != their_fields.get(num):
            diffs.append(f"{path} #{num}: ours {our_fields.get(num)} != TB {their_fields.get(num)}")
    if ours.options.map_entry != theirs.options.map_entry:
        diffs.append(f"{path}: map_entry differs")
    their_enums = {e.name: e for e in theirs.enum_type}
    for e in ours.enum_type:
        if e.name not in their_enums or not _enum_values_compatible(
            _enum_sig(e), _enum_sig(their_enums[e.name])
        ):
            diffs.append(f"enum {path}.{e.name} differs")
    their_nested = {n.name: n for n in theirs.nested_type}
    for n in ours.nested_type:
        if n.name not in their_nested:
            diffs.append(f"{path}.{n.name}: no such nested message in TB")
        else:
            diffs += _message_diffs(n, their_nested[n.name], f"{path}.{n.name}")
    return diffs


@pytest.mark.parametrize("ours", sorted(COUNTERPARTS))
def test_schema_matches_tensorboard(ours):
    mine = _file_proto(importlib.import_module(f"tbtool.proto.{ours}_pb2"))
    their_messages, their_enums = {}, {}
    for name in COUNTERPARTS[ours]:
        their = _file_proto(importlib.import_module(name))
        assert their.syntax == "proto3", name
        their_messages.update({m.name: m for m in their.message_type})
        their_enums.update({e.name: e for e in their.enum_type})
    diffs = []
    for msg in mine.message_type:
        if msg.name not in their_messages:
            diffs.append(f"{msg.name}: not in TensorBoard's {COUNTERPARTS[ours]}")
        else:
            diffs += _message_diffs(msg, their_messages[msg.name], msg.name)
    for enum in mine.enum_type:
        if enum.name not in their_enums or not _enum_values_compatible(
            _enum_sig(enum), _enum_sig(their_enums[enum.name])
        ):
            diffs.append(f"enum {enum.name} differs from TensorBoard's")
    assert not diffs, "\n".join(diffs)


# --------------------------------------------------------------------------------------------
# Coexistence in one process / one default descriptor pool
# --------------------------------------------------------------------------------------------

THEIR_MODULES = [
    "tensorboard.compat.proto.event_pb2",
    "tensorboard.compat.proto.summary_pb2",
    "tensorboard.compat.proto.graph_pb2",
    "tensorboard.compat.proto.config_pb2",
    "tensorboard.plugins.hparams.plugin_data_pb2",
    "tensorboard.plugins.mesh.plugin_data_pb2",
    "tensorboard.plugins.custom_scalar.layout_pb2",
    "tensorboard.plugins.projector.projector_config_pb2",
]
OPTIONAL_MODULES = {
    # importable module -> module that must be found for it to be tried
    "tensorboardX.proto.event_pb2": "tensorboardX",
    "torch.utils.tensorboard": "torch",
    "tensorflow": "tensorflow",
}
OUR_MODULES = [_module_name(p) for p in PROTO_FILES]

_COEXIST_SCRIPT = textwrap.dedent(
    """
    import importlib, json, sys
    from google.protobuf import descriptor_pool
    for name in json.loads(sys.argv[1]):
        importlib.import_module(name)
    pool = descriptor_pool.Default()
    for full in ("tbtool.Event", "tbtool.hparams.HParamsPluginData", "tbtool.mesh.MeshPluginData",
                 "tbtool.projector.ProjectorConfig", "tbtool.Layout", "tensorboard.Event",
                 "tensorboard.hparams.HParamsPluginData"):
        pool.FindMessageTypeByName(full)
    from tbtool.proto import event_pb2
    from tensorboard.compat.proto import event_pb2 as tb
    data = tb.Event(step=5, file_version="brain.Event:2").SerializeToString()
    assert event_pb2.Event.FromString(data).step == 5
    print("OK")
    """
)


@pytest.mark.parametrize("order", ["tbtool_first", "theirs_first"])
def test_coexists_with_tensorboard_torch_tensorflow(order):
    theirs = list(THEIR_MODULES)
    for module, top in OPTIONAL_MODULES.items():
        if importlib.util.find_spec(top) is not None:
            theirs.append(module)
    names = [*OUR_MODULES, *theirs] if order == "tbtool_first" else [*theirs, *OUR_MODULES]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    proc = subprocess.run(
        [sys.executable, "-c", _COEXIST_SCRIPT, json.dumps(names)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), (
        f"importing {names} failed:\n{proc.stderr[-4000:]}"
    )


# --------------------------------------------------------------------------------------------
# Wire compatibility with TensorBoard's classes
# --------------------------------------------------------------------------------------------


def _as_dict(message) -> dict:
    return MessageToDict(message, preserving_proto_field_name=True)


def assert_wire_compatible(theirs, our_cls):
    """theirs -> bytes -> ours -> bytes is the identity, and the fields read the same."""
    data = theirs.SerializeToString(deterministic=True)
    ours = our_cls.FromString(data)
    assert ours.SerializeToString(deterministic=True) == data
    # Name-based comparison: every field must be known to ours under TB's name
    # (unknown fields would be missing from the dict).
    assert _as_dict(ours) == _as_dict(theirs)
    # ... and back the other way.
    again = type(theirs).FromString(ours.SerializeToString(deterministic=True))
    assert again.SerializeToString(deterministic=True) == data
    return ours


def _fill_shape(shape):
    d = shape.dim.add(size=2, name="batch")
    assert d.size == 2
    shape.dim.add(size=-1)
    shape.dim.add(size=3, name="rgb")
    return shape


def _rich_tensor(tensor_module):
    t = tensor_module.TensorProto(
        dtype=1,
        version_number=7,
        tensor_content=b"\x00\x01\x02\x03\xff",
        half_val=[0x3C00, 0xFBFF, 0],
        float_val=[1.5, -0.0, float("inf")],
        double_val=[math.pi, -1e300],
        int_val=[-(2**31), 2**31 - 1, 0],
        string_val=[b"", b"\xff\x00bytes", "ünïcode".encode()],
        scomplex_val=[1.0, -2.0],
        int64_val=[-(2**63), 2**63 - 1],
        bool_val=[True, False, True],
        dcomplex_val=[0.5, 0.25],
        uint32_val=[0, 2**32 - 1],
        uint64_val=[0, 2**63, 2**64 - 1],
        float8_val=b"\x38\x40\x7f",
    )
    _fill_shape(t.tensor_shape)
    h = t.resource_handle_val.add(
        device="/job:w/device:CPU:0",
        container="c",
        name="var",
        hash_code=2**64 - 5,
        maybe_type_name="Var",
    )
    ds = h.dtypes_and_shapes.add(dtype=2)
    ds.shape.unknown_rank = True
    v = t.variant_val.add(type_name="tensorflow::Foo", metadata=b"\x01meta")
    inner = v.tensors.add(dtype=7, string_val=[b"nested"])
    inner.tensor_shape.dim.add(size=1)
    return t


def test_tensor_proto_all_fields():
    theirs = _rich_tensor(tb_tensor)
    ours = assert_wire_compatible(theirs, tensor_pb2.TensorProto)
    assert ours.dtype == types_pb2.DT_FLOAT
    assert list(ours.uint64_val) == [0, 2**63, 2**64 - 1]
    assert ours.float8_val == b"\x38\x40\x7f"
    # Built with ours from the same values: the same bytes.
    assert _rich_tensor(tensor_pb2).SerializeToString(
        deterministic=True
    ) == theirs.SerializeToString(deterministic=True)


def test_data_type_enum_matches():
    from tensorboard.compat.proto import types_pb2 as tb_types

    assert _enum_values_compatible(
        dict(types_pb2.DataType.items()), dict(tb_types.DataType.items())
    )
    assert types_pb2.DT_FLOAT4_E2M1FN == 33
    assert types_pb2.DT_UINT2_REF == 132
    for name, number in types_pb2.DataType.items():
        if 0 < number < 100:
            assert types_pb2.DataType.Value(f"{name}_REF") == number + 100


def _rich_histogram(histogram_module):
    return histogram_module.HistogramProto(
        min=-3.0,
        max=4.5,
        num=10,
        sum=7.25,
        sum_squares=30.5,
        bucket_limit=[-1.0, 0.0, 1.0, 1.7976931348623157e308],
        bucket=[2, 3, 0, 5],
    )


def test_histogram():
    theirs = _rich_histogram(tb_histogram)
    assert_wire_compatible(theirs, histogram_pb2.HistogramProto)
    assert _rich_histogram(histogram_pb2).SerializeToString() == theirs.SerializeToString()


def _rich_summary(summary_module, tensor_module, histogram_module):
    s = summary_module.Summary()
    s.value.add(tag="loss", simple_value=0.25)
    s.value.add(tag="old_histo", obsolete_old_style_histogram=b"\x01\x02")
    img = s.value.add(tag="img")
    img.image.height, img.image.width, img.image.colorspace = 2, 3, 4
    img.image.encoded_image_string = b"\x89PNG\r\n\x1a\n"
    h = s.value.add(tag="h")
    h.histo.CopyFrom(_rich_histogram(histogram_module))
    a = s.value.add(tag="a")
    a.audio.sample_rate = 44100.0
    a.audio.num_channels = 2
    a.audio.length_frames = 2**40
    a.audio.encoded_audio_string = b"RIFF...."
    a.audio.content_type = "audio/wav"
    t = s.value.add(tag="t", node_name="legacy/node")
    t.tensor.CopyFrom(_rich_tensor(tensor_module))
    md = t.metadata
    md.plugin_data.plugin_name = "scalars"
    md.plugin_data.content = b"\x08\x01"
    md.display_name = "Display"
    md.summary_description = "desc"
    md.data_class = 1
    for dc in (2, 3):
        v = s.value.add(tag=f"dc{dc}")
        v.metadata.data_class = dc
        v.tensor.dtype = 7
    return s


def test_summary_every_value_kind():
    theirs = _rich_summary(tb_summary, tb_tensor, tb_histogram)
    assert {v.WhichOneof("value") for v in theirs.value} == {
        "simple_value",
        "obsolete_old_style_histogram",
        "image",
        "histo",
        "audio",
        "tensor",
    }
    ours = assert_wire_compatible(theirs, summary_pb2.Summary)
    assert ours.value[5].metadata.data_class == summary_pb2.DATA_CLASS_SCALAR
    assert summary_pb2.DataClass.Name(3) == "DATA_CLASS_BLOB_SEQUENCE"
    mine = _rich_summary(summary_pb2, tensor_pb2, histogram_pb2)
    assert mine.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True
    )
    desc = tb_summary.SummaryDescription(type_hint="x")
    assert_wire_compatible(desc, summary_pb2.SummaryDescription)


def _event_of_kind(kind: str):
    ev = tb_event.Event(wall_time=1_700_000_000.125, step=42)
    if kind == "file_version":
        ev.file_version = "brain.Event:2"
        ev.source_metadata.writer = "tensorboard.summary.writer.event_file_writer"
    elif kind == "graph_def":
        ev.graph_def = _rich_graph().SerializeToString()
    elif kind == "summary":
        ev.summary.CopyFrom(_rich_summary(tb_summary, tb_tensor, tb_histogram))
    elif kind == "log_message":
        ev.log_message.level = tb_event.LogMessage.WARN
        ev.log_message.message = "careful"
    elif kind == "session_log":
        ev.session_log.status = tb_event.SessionLog.CHECKPOINT
        ev.session_log.checkpoint_path = "/ckpt/model-42"
        ev.session_log.msg = "saved"
    elif kind == "tagged_run_metadata":
        ev.tagged_run_metadata.tag = "step1"
        ev.tagged_run_metadata.run_metadata = _rich_run_metadata().SerializeToString()
    elif kind == "meta_graph_def":
        ev.meta_graph_def = b"\x0a\x03abc"
    return ev


EVENT_KINDS = [
    "file_version",
    "graph_def",
    "summary",
    "log_message",
    "session_log",
    "tagged_run_metadata",
    "meta_graph_def",
]


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_event_every_oneof_kind(kind):
    theirs = _event_of_kind(kind)
    assert theirs.WhichOneof("what") == kind
    ours = assert_wire_compatible(theirs, event_pb2.Event)
    assert ours.WhichOneof("what") == kind


def test_event_enums_match():
    assert dict(event_pb2.LogMessage.Level.items()) == dict(tb_event.LogMessage.Level.items())
    assert dict(event_pb2.SessionLog.SessionStatus.items()) == dict(
        tb_event.SessionLog.SessionStatus.items()
    )
    for status in (0, 1, 2, 3):
        assert_wire_compatible(tb_event.SessionLog(status=status), event_pb2.SessionLog)


def _all_attr_kinds(attr_value_module):
    AttrValue = attr_value_module.AttrValue
    attrs = {
        "s": AttrValue(s=b"{'a': 1}".replace(b"'", b" ")),
        "i": AttrValue(i=-(2**40)),
        "f": AttrValue(f=0.5),
        "b": AttrValue(b=True),
        "type": AttrValue(type=9),
        "placeholder": AttrValue(placeholder="T"),
    }
    shape = AttrValue()
    _fill_shape(shape.shape)
    attrs["shape"] = shape
    tensor = AttrValue()
    tensor.tensor.dtype = 3
    tensor.tensor.int_val.extend([1, 2, 3])
    attrs["tensor"] = tensor
    func = AttrValue()
    func.func.name = "my_fn"
    func.func.attr["T"].type = 1
    func.func.attr["N"].i = 3
    attrs["func"] = func
    lst = AttrValue()
    lst.list.s.extend([b"x", b"y"])
    lst.list.i.extend([1, -2])
    lst.list.f.extend([0.25])
    lst.list.b.extend([True, False])
    lst.list.type.extend([1, 7, 101])
    _fill_shape(lst.list.shape.add())
    lst.list.tensor.add(dtype=1, float_val=[1.0])
    lst.list.func.add(name="g").attr["k"].s = b"v"
    attrs["list"] = lst
    return attrs


def _rich_graph():
    g = tb_graph.GraphDef()
    g.versions.producer = 22
    g.versions.min_consumer = 12
    g.versions.bad_consumers.extend([3, 5])
    g.version = 1
    inp = g.node.add(name="input/input.1", op="IO Node")
    _fill_shape(inp.attr["_output_shapes"].list.shape.add())
    node = g.node.add(
        name="Sequential/Linear[0]/onnx::Gemm_5",
        op="aten::linear",
        input=["input/input.1", "^ctrl"],
        device="/device:CPU:0",
    )
    for key, value in _all_attr_kinds(tb_attr_value).items():
        node.attr[key].CopyFrom(value)
    node.experimental_debug_info.original_node_names.extend(["a", "b"])
    node.experimental_debug_info.original_func_names.append("f")
    node.experimental_type.type_id = 1000  # TFT_TENSOR
    arg = node.experimental_type.args.add(type_id=210)  # TFT_FLOAT
    arg.s = "named"
    node.experimental_type.args.add(type_id=4, i=7)
    return g


def test_graph_def_with_every_attr_kind():
    theirs = _rich_graph()
    kinds = {v.WhichOneof("value") for v in theirs.node[1].attr.values()}
    assert kinds == {f.name for f in tb_attr_value.AttrValue.DESCRIPTOR.oneofs[0].fields}
    ours = assert_wire_compatible(theirs, graph_pb2.GraphDef)
    assert ours.versions.producer == 22
    assert ours.node[1].experimental_type.type_id == node_def_pb2.TFT_TENSOR
    assert_wire_compatible(theirs.node[1], node_def_pb2.NodeDef)
    assert_wire_compatible(theirs.versions, versions_pb2.VersionDef)
    for value in theirs.node[1].attr.values():
        assert_wire_compatible(value, attr_value_pb2.AttrValue)


def test_graph_def_undeclared_fields_survive_round_trip():
    # GraphDef.library (2) and debug_info (5) are not declared in graph.proto; protobuf
    # keeps them as unknown fields and writes them back after the declared ones, so the
    # content round-trips (bytes are equal up to field order).
    theirs = _rich_graph()
    fn = theirs.library.function.add()
    fn.signature.name = "fn"
    fn.ret["out"] = "x:0"
    theirs.library.gradient.add(function_name="fn", gradient_func="fn_grad")
    theirs.debug_info.files.append("model.py")
    theirs.debug_info.traces["node"].file_line_cols.add(file_index=0, line=3)
    data = theirs.SerializeToString(deterministic=True)
    ours = graph_pb2.GraphDef.FromString(data)
    assert len(ours.node) == 2
    assert _as_dict(ours) == _as_dict(_rich_graph())
    again = tb_graph.GraphDef.FromString(ours.SerializeToString())
    assert again == theirs
    assert again.SerializeToString(deterministic=True) == data


def _rich_run_metadata():
    from tensorboard.compat.proto import step_stats_pb2  # noqa: F401 (registers types)

    rm = tb_config.RunMetadata()
    dev = rm.step_stats.dev_stats.add(device="/device:CPU:0")
    dev.thread_names[7] = "worker-7"
    dev.thread_names[2**32 - 1] = "max"
    ns = dev.node_stats.add(
        node_name="MatMul",
        all_start_micros=1,
        op_start_rel_micros=2,
        op_end_rel_micros=3,
        all_end_rel_micros=4,
        timeline_label="MatMul = MatMul(a, b)",
        scheduled_micros=5,
        thread_id=7,
        all_start_nanos=1000,
        op_start_rel_nanos=2000,
        op_end_rel_nanos=3000,
        all_end_rel_nanos=4000,
        scheduled_nanos=5000,
    )
    mem = ns.memory.add(
        allocator_name="cpu",
        total_bytes=100,
        peak_bytes=90,
        live_bytes=10,
        allocator_bytes_in_use=50,
    )
    mem.allocation_records.add(alloc_micros=9, alloc_bytes=-64)
    out = ns.output.add(slot=1)
    out.tensor_description.dtype = 1
    _fill_shape(out.tensor_description.shape)
    out.tensor_description.allocation_description.requested_bytes = 64
    out.tensor_description.allocation_description.ptr = 2**64 - 1
    ns.referenced_tensor.add(
        requested_bytes=1,
        allocated_bytes=2,
        allocator_name="gpu",
        allocation_id=3,
        has_single_reference=True,
        ptr=4,
    )
    ns.memory_stats.temp_memory_size = 1
    ns.memory_stats.persistent_memory_size = 2
    ns.memory_stats.persistent_tensor_alloc_ids.extend([3, 4])
    ns.memory_stats.device_temp_memory_size = 5
    ns.memory_stats.device_persistent_memory_size = 6
    ns.memory_stats.device_persistent_tensor_alloc_ids.extend([7])
    cg = rm.cost_graph.node.add(
        name="n",
        device="d",
        id=1,
        temporary_memory_size=2,
        persistent_memory_size=3,
        host_temp_memory_size=4,
        device_temp_memory_size=5,
        device_persistent_memory_size=6,
        compute_cost=7,
        compute_time=8,
        memory_time=9,
        is_final=True,
        control_input=[1, 2],
        inaccurate=True,
    )
    cg.input_info.add(preceding_node=1, preceding_port=2)
    oi = cg.output_info.add(size=8, alias_input_port=-1, dtype=2)
    oi.shape.dim.add(size=4)
    rm.cost_graph.cost.add(cost=1.5, dimension="flops")
    rm.partition_graphs.add().node.add(name="p", op="NoOp")
    fg = rm.function_graphs.add()
    fg.partition_graphs.add().node.add(name="q")
    fg.pre_optimization_graph.versions.producer = 1
    fg.post_optimization_graph.versions.producer = 2
    rm.session_metadata.name = "sess"
    rm.session_metadata.version = 3
    return rm


def test_run_metadata_with_step_stats():
    theirs = _rich_run_metadata()
    ours = assert_wire_compatible(theirs, run_metadata_pb2.RunMetadata)
    assert ours.step_stats.dev_stats[0].thread_names[7] == "worker-7"
    # What torch's add_graph writes.
    torch_like = tb_config.RunMetadata()
    torch_like.step_stats.dev_stats.add(device="/device:CPU:0")
    assert_wire_compatible(torch_like, run_metadata_pb2.RunMetadata)


def test_tagged_run_metadata_nested_payload():
    ev = _event_of_kind("tagged_run_metadata")
    ours = assert_wire_compatible(ev, event_pb2.Event)
    inner = ours.tagged_run_metadata.run_metadata
    assert_wire_compatible(tb_config.RunMetadata.FromString(inner), run_metadata_pb2.RunMetadata)


def test_simple_plugin_data():
    for plugin in ("scalar", "histogram", "text", "image", "audio", "pr_curve"):
        tb_mod = importlib.import_module(f"tensorboard.plugins.{plugin}.plugin_data_pb2")
        for name, cls in tb_mod.DESCRIPTOR.message_types_by_name.items():
            our_cls = getattr(plugin_data_pb2, name)
            theirs = getattr(tb_mod, name)()
            assert theirs.SerializeToString() == b""
            assert our_cls().SerializeToString() == b""
            for field in cls.fields:
                if field.type == field.TYPE_BOOL:
                    setattr(theirs, field.name, True)
                elif field.type == field.TYPE_ENUM:
                    setattr(theirs, field.name, field.enum_type.values[-1].number)
                else:
                    setattr(theirs, field.name, 201)
            assert_wire_compatible(theirs, our_cls)
    assert plugin_data_pb2.AudioPluginData.WAV == 11


def _hparams_messages():
    exp = tb_hparams.HParamsPluginData(version=0)
    e = exp.experiment
    e.name = "exp"
    e.description = "desc"
    e.user = "me"
    e.time_created_secs = 1.7e9
    lr = e.hparam_infos.add(name="lr", display_name="LR", description="learning rate", type=3)
    lr.domain_interval.min_value = 1e-5
    lr.domain_interval.max_value = 1.0
    opt = e.hparam_infos.add(name="optimizer", type=1, differs=True)
    opt.domain_discrete.values.add(string_value="adam")
    opt.domain_discrete.values.add(string_value="sgd")
    flag = e.hparam_infos.add(name="flag", type=2)
    flag.domain_discrete.values.add(bool_value=True)
    e.hparam_infos.add(name="untyped")
    m = e.metric_infos.add(display_name="Accuracy", description="acc", dataset_type=2)
    m.name.group = "validation"
    m.name.tag = "epoch_accuracy"
    e.metric_infos.add().name.tag = "loss"

    start = tb_hparams.HParamsPluginData(version=0)
    s = start.session_start_info
    s.hparams["lr"].number_value = 0.001
    s.hparams["optimizer"].string_value = "adam"
    s.hparams["flag"].bool_value = False
    s.hparams["ünï"].number_value = -2.5
    s.model_uri = "gs://bucket/model"
    s.monitor_url = "http://monitor"
    s.group_name = "group-a"
    s.start_time_secs = 1.7e9 + 0.5

    end = tb_hparams.HParamsPluginData(version=0)
    end.session_end_info.status = 1
    end.session_end_info.end_time_secs = 1.7e9 + 60
    return [exp, start, end]


def test_hparams_plugin_data():
    for theirs in _hparams_messages():
        ours = assert_wire_compatible(theirs, hparams_pb2.HParamsPluginData)
        assert ours.WhichOneof("data") == theirs.WhichOneof("data")
    exp, start, _ = _hparams_messages()
    ours = hparams_pb2.HParamsPluginData.FromString(start.SerializeToString())
    assert isinstance(ours.session_start_info.hparams["lr"], struct_pb2.Value)
    assert ours.session_start_info.hparams["optimizer"].string_value == "adam"
    ours = hparams_pb2.HParamsPluginData.FromString(exp.SerializeToString())
    assert ours.experiment.hparam_infos[1].domain_discrete.values[1].string_value == "sgd"
    assert ours.experiment.hparam_infos[0].type == hparams_pb2.DATA_TYPE_FLOAT64
    from tensorboard.plugins.hparams import api_pb2 as tb_api

    for enum in ("DataType", "DatasetType", "Status"):
        assert dict(getattr(hparams_pb2, enum).items()) == dict(getattr(tb_api, enum).items())


def _rich_layout(layout_module):
    layout = layout_module.Layout(version=1)
    cat = layout.category.add(title="Losses", closed=True)
    cat.chart.add(title="all").multiline.tag.extend([r"loss/.*", r"val_loss"])
    margin = cat.chart.add(title="band").margin
    margin.series.add(value="mean", lower="lo", upper="hi")
    margin.series.add(value="m2")
    layout.category.add(title="Empty")
    return layout


def test_custom_scalar_layout():
    theirs = _rich_layout(tb_layout)
    assert_wire_compatible(theirs, custom_scalar_layout_pb2.Layout)
    assert _rich_layout(custom_scalar_layout_pb2).SerializeToString() == theirs.SerializeToString()


def test_mesh_plugin_data():
    for content_type in (0, 1, 2, 3):
        theirs = tb_mesh.MeshPluginData(
            version=0,
            name="mesh",
            content_type=content_type,
            json_config='{"camera": {"cls": "PerspectiveCamera", "fov": 75}}',
            shape=[1, 1000, 3],
            components=(1 << 1) | (1 << 2) | (1 << 3),
        )
        assert_wire_compatible(theirs, mesh_pb2.MeshPluginData)
    assert dict(mesh_pb2.MeshPluginData.ContentType.items()) == dict(
        tb_mesh.MeshPluginData.ContentType.items()
    )


def test_projector_config_binary_and_text():
    theirs = tb_projector.ProjectorConfig(
        model_checkpoint_path="model.ckpt-1", model_checkpoint_dir="ckpts"
    )
    emb = theirs.embeddings.add(
        tensor_name="embedding:0",
        metadata_path="metadata.tsv",
        bookmarks_path="bookmarks.txt",
        tensor_shape=[100, 64],
        tensor_path="tensors.tsv",
    )
    emb.sprite.image_path = "sprite.png"
    emb.sprite.single_image_dim.extend([28, 28])
    theirs.embeddings.add(tensor_name="other")
    ours = assert_wire_compatible(theirs, projector_config_pb2.ProjectorConfig)
    # projector_config.pbtxt is text format: it must parse identically too.
    pbtxt = text_format.MessageToString(theirs)
    parsed = text_format.Parse(pbtxt, projector_config_pb2.ProjectorConfig())
    assert parsed == ours
    assert text_format.MessageToString(parsed) == pbtxt


def test_tensor_shape_standalone():
    from tensorboard.compat.proto import tensor_shape_pb2 as tb_shape

    assert_wire_compatible(
        _fill_shape(tb_shape.TensorShapeProto()), tensor_shape_pb2.TensorShapeProto
    )
    assert_wire_compatible(
        tb_shape.TensorShapeProto(unknown_rank=True), tensor_shape_pb2.TensorShapeProto
    )


# ---- property-based round trips: Event + Summary, both directions --------------------------

_floats32 = st.floats(width=32)
_values = st.one_of(
    st.tuples(st.just("simple"), _floats32),
    st.tuples(st.just("scalar_tensor"), _floats32),
    st.tuples(st.just("text"), st.lists(st.binary(max_size=20), max_size=4)),
    st.tuples(
        st.just("histo"),
        st.lists(st.floats(allow_nan=False), min_size=1, max_size=6),
    ),
)
_event_specs = st.fixed_dictionaries(
    {
        "wall_time": st.floats(),
        "step": st.integers(-(2**63), 2**63 - 1),
        "values": st.lists(st.tuples(st.text(max_size=30), _values), max_size=5),
    }
)


def _build_event(spec, event_module, tensor_payloads: bool = True):
    """Build the same Event with either module set (field names are identical)."""
    ev = event_module.Event(wall_time=spec["wall_time"], step=spec["step"])
    summary = ev.summary
    for tag, (kind, payload) in spec["values"]:
        v = summary.value.add(tag=tag)
        if kind == "simple":
            v.simple_value = payload
        elif kind == "scalar_tensor":
            v.metadata.plugin_data.plugin_name = "scalars"
            v.metadata.data_class = 1
            v.tensor.dtype = 1
            v.tensor.float_val.append(payload)
        elif kind == "text":
            v.metadata.plugin_data.plugin_name = "text"
            v.metadata.data_class = 2
            v.tensor.dtype = 7
            v.tensor.tensor_shape.dim.add(size=len(payload))
            v.tensor.string_val.extend(payload)
        else:
            v.histo.min, v.histo.max = min(payload), max(payload)
            v.histo.num = len(payload)
            v.histo.bucket_limit.extend(sorted(payload))
            v.histo.bucket.extend([1.0] * len(payload))
    return ev


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_event_specs)
def test_event_round_trip_property(spec):
    theirs = _build_event(spec, tb_event)
    ours = _build_event(spec, event_pb2)
    # Same construction, same bytes.
    data = theirs.SerializeToString(deterministic=True)
    assert ours.SerializeToString(deterministic=True) == data
    # TB -> ours: parses to the same fields, and ours re-serializes exactly as TB's own
    # classes do after the same parse (the pure-Python runtime canonicalizes NaN payloads
    # when parsing, so "== data" alone would test the runtime, not the schema).
    parsed = event_pb2.Event.FromString(data)
    reparsed = tb_event.Event.FromString(data)
    assert parsed.SerializeToString(deterministic=True) == reparsed.SerializeToString(
        deterministic=True
    )
    assert _as_dict(parsed) == _as_dict(theirs)
    # ours -> TB
    mine = ours.SerializeToString()
    back = tb_event.Event.FromString(mine)
    assert back.SerializeToString(deterministic=True) == event_pb2.Event.FromString(
        mine
    ).SerializeToString(deterministic=True)
    assert _as_dict(back) == _as_dict(ours)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 2**64 - 1), max_size=5),
    st.lists(st.integers(0, 2**32 - 1), max_size=5),
    st.lists(st.integers(0, 0xFFFF), max_size=5),
    st.binary(max_size=8),
)
def test_unsigned_and_small_float_tensor_fields_property(u64, u32, halves, f8):
    theirs = tb_tensor.TensorProto(
        dtype=23, uint64_val=u64, uint32_val=u32, half_val=halves, float8_val=f8
    )
    ours = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_UINT64, uint64_val=u64, uint32_val=u32, half_val=halves, float8_val=f8
    )
    assert ours.SerializeToString() == theirs.SerializeToString()
    assert_wire_compatible(theirs, tensor_pb2.TensorProto)
