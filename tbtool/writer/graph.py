"""Model graphs: torch modules traced to a ``GraphDef`` (``add_graph``) and ONNX files
(``add_onnx_graph``), in the form torch's writer gives them (format.md §2.6).

The conversion follows torch's ``_pytorch_graph.py`` and ``_onnx_graph.py`` step by step
(BSD-licensed; node naming by module scope, ``IO Node``/``Parameter`` kinds, the
``_output_shapes`` and ``attr`` attributes) but builds tbtool's own protobufs, so it needs
neither TensorBoard nor TensorFlow. torch and onnx are imported only when these functions
are called.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from tbtool.proto import (
    attr_value_pb2,
    graph_pb2,
    node_def_pb2,
    run_metadata_pb2,
    tensor_shape_pb2,
    versions_pb2,
)

#: ``GraphDef.versions.producer`` torch writes ("reverse engineered", says torch).
PRODUCER = 22
_GETATTR_KIND = "prim::GetAttr"
_CLASSTYPE_KIND = "ClassType"
_METHODS_OP = (
    "attributeNames",
    "hasMultipleOutputs",
    "hasUses",
    "inputs",
    "kind",
    "outputs",
    "outputsSize",
    "scopeName",
)
_METHODS_IO = ("node", "offset", "debugName")


def _require_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(
            "add_graph needs PyTorch; install it (pip install 'tbtool[torch]') "
            "or log the graph with add_onnx_graph"
        ) from None
    return torch


def _shape(sizes: Sequence[int]) -> Any:
    return tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in sizes]
    )


def node_proto(
    name: str,
    op: str = "UnSpecified",
    inputs: Sequence[str] | None = None,
    outputsize: Sequence[int] | None = None,
    attributes: str = "",
) -> Any:
    """torch's ``_proto_graph.node_proto``."""
    node = node_def_pb2.NodeDef(name=name, op=op, input=list(inputs or []))
    if attributes is not None:
        node.attr["attr"].s = attributes.encode("utf-8")
    if outputsize is not None:
        node.attr["_output_shapes"].list.shape.append(_shape(outputsize))
    return node


class _NodeBase:
    def __init__(
        self,
        debug_name: Any = None,
        inputs: Any = None,
        scope: Any = None,
        tensor_size: Any = None,
        op_type: str = "UnSpecified",
        attributes: str = "",
    ) -> None:
        self.debugName = debug_name
        self.inputs = inputs
        self.tensor_size = tensor_size
        self.kind = op_type
        self.attributes = attributes
        self.scope = scope


class _NodePy(_NodeBase):
    def __init__(self, node_cpp: Any, valid_methods: Sequence[str]) -> None:
        super().__init__(node_cpp)
        self.inputs = []
        for m in valid_methods:
            if m in ("inputs", "outputs"):
                names, sizes = [], []
                for n in getattr(node_cpp, m)():
                    names.append(n.debugName())
                    sizes.append(n.type().sizes() if n.isCompleteTensor() else None)
                setattr(self, m, names)
                setattr(self, m + "tensor_size", sizes)
            else:
                setattr(self, m, getattr(node_cpp, m)())


class _NodePyIO(_NodePy):
    def __init__(self, node_cpp: Any, input_or_output: str | None = None) -> None:
        super().__init__(node_cpp, _METHODS_IO)
        try:
            tensor_size = node_cpp.type().sizes()
        except RuntimeError:
            tensor_size = [1]  # a constant model
        self.tensor_size = tensor_size
        self.kind = "Parameter"
        if input_or_output:
            self.input_or_output = input_or_output
            self.kind = "IO Node"


class _NodePyOP(_NodePy):
    def __init__(self, node_cpp: Any) -> None:
        super().__init__(node_cpp, _METHODS_OP)
        # torch replaces quotes, which confuse TensorBoard's graph view.
        self.attributes = str(
            {k: _node_get(node_cpp, k) for k in node_cpp.attributeNames()}
        ).replace("'", " ")
        self.kind = node_cpp.kind()


def _node_get(node: Any, key: str) -> Any:
    return getattr(node, node.kindOf(key))(key)


class _GraphPy:
    """torch's two-pass scope naming of traced nodes (``_pytorch_graph.GraphPy``)."""

    def __init__(self) -> None:
        self.nodes_op: list[Any] = []
        self.nodes_io: OrderedDict[str, Any] = OrderedDict()
        self.unique_name_to_scoped_name: dict[str, str] = {}
        self.shallowest_scope_name = "default"
        self.scope_name_appeared: list[str] = []

    def append(self, x: Any) -> None:
        if isinstance(x, _NodePyIO):
            self.nodes_io[x.debugName] = x
        if isinstance(x, _NodePyOP):
            self.nodes_op.append(x)

    def find_common_root(self) -> None:
        for fullscope in self.scope_name_appeared:
            if fullscope:
                self.shallowest_scope_name = fullscope.split("/")[0]

    def populate_namespace_from_op_to_io(self) -> None:
        for node in self.nodes_op:
            for node_output, output_size in zip(node.outputs, node.outputstensor_size, strict=True):
                self.scope_name_appeared.append(node.scopeName)
                self.nodes_io[node_output] = _NodeBase(
                    node_output,
                    node.inputs,
                    node.scopeName,
                    output_size,
                    op_type=node.kind,
                    attributes=node.attributes,
                )
        self.find_common_root()
        for node in self.nodes_op:
            for input_node_id in node.inputs:
                self.unique_name_to_scoped_name[input_node_id] = (
                    node.scopeName + "/" + input_node_id
                )
        for key, node in self.nodes_io.items():
            if type(node) is _NodeBase:
                self.unique_name_to_scoped_name[key] = node.scope + "/" + node.debugName
            if hasattr(node, "input_or_output"):
                self.unique_name_to_scoped_name[key] = node.input_or_output + "/" + node.debugName
            if getattr(node, "scope", None) is not None:
                self.unique_name_to_scoped_name[key] = node.scope + "/" + node.debugName
                if node.scope == "" and self.shallowest_scope_name:
                    self.unique_name_to_scoped_name[node.debugName] = (
                        self.shallowest_scope_name + "/" + node.debugName
                    )
        for key, node in self.nodes_io.items():
            self.nodes_io[key].inputs = [
                self.unique_name_to_scoped_name[node_input_id] for node_input_id in node.inputs
            ]
            if node.debugName in self.unique_name_to_scoped_name:
                self.nodes_io[key].debugName = self.unique_name_to_scoped_name[node.debugName]

    def to_proto(self) -> list[Any]:
        return [
            node_proto(
                v.debugName,
                inputs=v.inputs,
                outputsize=v.tensor_size,
                op=v.kind,
                attributes=v.attributes,
            )
            for v in self.nodes_io.values()
        ]


def _parse(graph: Any, trace: Any, omit_useless_nodes: bool = True) -> list[Any]:
    torch = _require_torch()
    nodes_py = _GraphPy()
    for node in graph.inputs():
        if omit_useless_nodes and not node.uses():
            continue
        if node.type().kind() != _CLASSTYPE_KIND:
            nodes_py.append(_NodePyIO(node, "input"))

    attr_to_scope: dict[Any, str] = {}
    for node in graph.nodes():
        if node.kind() == _GETATTR_KIND:
            attr_name = node.s("name")
            attr_key = node.output().debugName()
            parent = node.input().node()
            if parent.kind() == _GETATTR_KIND:
                parent_scope = attr_to_scope[parent.output().debugName()]
                attr_scope = parent_scope.split("/")[-1]
                attr_to_scope[attr_key] = f"{parent_scope}/{attr_scope}.{attr_name}"
            else:
                attr_to_scope[attr_key] = f"__module.{attr_name}"
            if node.output().type().kind() != _CLASSTYPE_KIND:
                node_py = _NodePyOP(node)
                node_py.scopeName = attr_to_scope[attr_key]
                nodes_py.append(node_py)
        else:
            nodes_py.append(_NodePyOP(node))

    for i, node in enumerate(graph.outputs()):
        node_pyio = _NodePyIO(node, "output")
        node_pyio.debugName = f"output.{i + 1}"
        node_pyio.inputs = [node.debugName()]
        nodes_py.append(node_pyio)

    def traced_name(module: Any) -> str:
        if isinstance(module, torch.jit.TracedModule):
            return module._name
        return getattr(module, "original_name", "Module")

    alias_to_name = {}
    base_name = traced_name(trace)
    for name, module in trace.named_modules(prefix="__module"):
        alias_to_name[name] = f"{traced_name(module)}[{name.split('.')[-1]}]"

    for node in nodes_py.nodes_op:
        replacements = [
            alias_to_name[alias] if alias in alias_to_name else alias.split(".")[-1]
            for alias in node.scopeName.split("/")
        ]
        node.scopeName = base_name
        if any(replacements):
            node.scopeName += "/" + "/".join(replacements)

    nodes_py.populate_namespace_from_op_to_io()
    return nodes_py.to_proto()


@contextlib.contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    torch = _require_torch()
    if isinstance(model, torch.jit.ScriptFunction) or not hasattr(model, "train"):
        yield
        return
    training = model.training
    model.train(False)
    try:
        yield
    finally:
        model.train(training)


def torch_graph(
    model: Any, args: Any, verbose: bool = False, use_strict_trace: bool = True
) -> tuple[Any, Any]:
    """(GraphDef, RunMetadata) of a torch module traced with ``args`` (torch's ``graph``)."""
    torch = _require_torch()
    with _eval_mode(model):
        trace = torch.jit.trace(model, args, strict=use_strict_trace)
        graph = trace.graph
        torch._C._jit_pass_inline(graph)
    if verbose:
        print(graph)
    nodes = _parse(graph, trace)
    run_metadata = run_metadata_pb2.RunMetadata(
        step_stats=run_metadata_pb2.StepStats(
            dev_stats=[run_metadata_pb2.DeviceStepStats(device="/device:CPU:0")]
        )
    )
    graph_def = graph_pb2.GraphDef(node=nodes, versions=versions_pb2.VersionDef(producer=PRODUCER))
    return graph_def, run_metadata


def onnx_graph(path: Any) -> Any:
    """GraphDef of an ONNX model file (torch's ``load_onnx_graph``, without its prints)."""
    try:
        import onnx
    except ImportError:
        raise ImportError("add_onnx_graph needs the onnx package (pip install onnx)") from None
    graph = onnx.load(path).graph
    nodes = []
    for node in [*graph.input, *graph.output]:
        shape = _shape([d.dim_value for d in node.type.tensor_type.shape.dim])
        nodes.append(
            node_def_pb2.NodeDef(
                name=node.name,
                op="Variable",
                attr={
                    "dtype": attr_value_pb2.AttrValue(type=node.type.tensor_type.elem_type),
                    "shape": attr_value_pb2.AttrValue(shape=shape),
                },
            )
        )
    for node in graph.node:
        fields = [" = ".join(str(f[1]) for f in a.ListFields()) for a in node.attribute]
        nodes.append(
            node_def_pb2.NodeDef(
                name=node.output[0],
                op=node.op_type,
                input=list(node.input),
                attr={"parameters": attr_value_pb2.AttrValue(s=", ".join(fields).encode())},
            )
        )
    return graph_pb2.GraphDef(node=nodes, versions=versions_pb2.VersionDef(producer=PRODUCER))
