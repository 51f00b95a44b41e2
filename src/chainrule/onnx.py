"""ONNX export: the forward pass of a network as an ONNX graph, for any ONNX runtime.

    chainrule.onnx.export(network_or_estimator, "model.onnx")

The graph is the seeds' forward pass, one node per step:

    x' = (x − mean) / scale                         (when the model carries "standardize")
    z^(l) = a^(l-1) W^(l) + b^(l)                   Gemm
    a^(l) = σ(z^(l))                    Relu, Sigmoid, Tanh, LeakyRelu, Exp, Softmax (identity: -)

Dropout is the identity at inference and leaves no node. Input ``input``, shape [N, n_features]
(N dynamic): float32, or float64 when the graph standardises (raw features keep their digits
until the mean is taken away, as in `Standardizer`; a timestamp of 1.7e12 is a multiple of 131072
in float32); outputs ``output`` = a^(O) (class probabilities for a classifier, the
values for a regressor) and, for a classifier, ``label``: the predicted class (argmax of the
softmax, or a > 0.5 per sigmoid output), mapped to the model's ``classes`` when it has them.
The network's part of the graph computes in float32, whatever the network's dtype.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.activations import Activation, Exp, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from chainrule.layers import Dense, Dropout
from chainrule.network import Network
from chainrule.safefile import atomic_write

OPSET = 17
_OPS = {
    ReLU: "Relu",
    Sigmoid: "Sigmoid",
    Tanh: "Tanh",
    LeakyReLU: "LeakyRelu",
    Exp: "Exp",
    Softmax: "Softmax",
}


def _network(model: Any) -> Network:
    if isinstance(model, Network):
        return model
    network = getattr(model, "network_", None)
    if isinstance(network, Network):
        return network
    raise TypeError(
        "export takes a chainrule Network or a fitted chainrule.sklearn estimator, "
        f"got {type(model).__name__}"
    )


def to_onnx(model: Any, *, opset: int = OPSET) -> Any:
    """The ONNX ``ModelProto`` of a network's (or fitted estimator's) forward pass."""
    from onnx import TensorProto, checker, helper, numpy_helper

    if not isinstance(opset, int) or opset < OPSET:
        raise ValueError(f"opset must be an integer ≥ {OPSET}, got {opset!r}")
    network = _network(model)
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: Any, dtype: Any = np.float32) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    a = "input"
    std = network.metadata.get("standardize")
    in_type = TensorProto.DOUBLE if std else TensorProto.FLOAT
    if std:
        mean, scale = np.asarray(std["mean"], dtype=float), np.asarray(std["scale"], dtype=float)
        if (
            mean.shape != (network.n_features,)
            or scale.shape != (network.n_features,)
            or not (scale != 0).all()
        ):
            raise ValueError(
                f"metadata 'standardize' needs a mean and a non-zero scale for each of the "
                f"{network.n_features} features"
            )
        a = node("Sub", [a, const("mean", mean, np.float64)], "centered")  # in float64, as predict
        a = node("Div", [a, const("scale", scale, np.float64)], "standardized_64")
        a = node("Cast", [a], "standardized", to=TensorProto.FLOAT)
    for i, layer in enumerate(network.layers):
        if isinstance(layer, Dense):  # z = a_prev W + b
            a = node("Gemm", [a, const(f"W{i}", layer.W), const(f"b{i}", layer.b)], f"z{i}")
        elif isinstance(layer, Activation) and not isinstance(layer, Identity):
            attrs = {"alpha": layer.alpha} if isinstance(layer, LeakyReLU) else {}
            if isinstance(layer, Softmax):
                attrs = {"axis": -1}
            a = node(_OPS[type(layer)], [a], f"a{i}", **attrs)
        elif not isinstance(layer, Dropout | Identity):
            raise TypeError(f"ONNX export does not know the layer {layer!r}")
    outputs = [node("Identity", [a], "output")]
    n_out = network.n_outputs
    shapes = {"output": ["N", n_out]}
    if network.loss.classifier:
        outputs.append(_label(network, a, node, const, shapes))

    elem = {np.dtype(np.int64): TensorProto.INT64, np.dtype(np.float64): TensorProto.DOUBLE}
    out_types = {"output": TensorProto.FLOAT, "label": elem.get(_classes(network)[1], TensorProto.STRING)}
    graph = helper.make_graph(
        nodes,
        "chainrule",
        [helper.make_tensor_value_info("input", in_type, ["N", network.n_features])],
        [helper.make_tensor_value_info(o, out_types[o], shapes[o]) for o in outputs],
        initializer=inits,
    )
    opsets = [helper.make_opsetid("", opset)]
    onnx_model = helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="chainrule",
        doc_string="feed-forward network trained by chainrule (explicit backpropagation)",
    )
    helper.set_model_props(
        onnx_model,
        {
            "chainrule.metadata": json.dumps(network.metadata),
            "chainrule.network": json.dumps(network.config()),
        },
    )
    checker.check_model(onnx_model, full_check=True)
    return onnx_model


def _classes(network: Network) -> tuple[np.ndarray | None, np.dtype]:
    """The model's class labels as an array (None for multi-label or without labels) and its dtype."""
    classes = network.metadata.get("classes")
    multilabel = network.loss.name == "binary_cross_entropy" and network.n_outputs > 1
    if classes is None or multilabel:
        return None, np.dtype(np.int64)
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return np.asarray(classes, dtype=np.int64), np.dtype(np.int64)
    if all(isinstance(c, str) for c in classes):
        return np.asarray(classes, dtype=object), np.dtype(object)
    return np.asarray(classes, dtype=np.float64), np.dtype(np.float64)


def _label(network: Network, a: str, node: Any, const: Any, shapes: dict[str, list[Any]]) -> str:
    """Nodes for the predicted label: argmax of a softmax, a > 0.5 per sigmoid output."""
    from onnx import TensorProto

    if isinstance(network.output, Softmax):
        index = node("ArgMax", [a], "index", axis=1, keepdims=0)
    else:
        index = node(
            "Cast", [node("Greater", [a, const("half", 0.5)], "above_half")], "index", to=TensorProto.INT64
        )
        if network.n_outputs == 1:
            index = node("Reshape", [index, const("flat", [-1], np.int64)], "index_flat")
    classes, _ = _classes(network)
    if classes is None:
        shapes["label"] = (
            ["N"]
            if network.n_outputs == 1 or isinstance(network.output, Softmax)
            else ["N", network.n_outputs]
        )
        return node("Identity", [index], "label")
    shapes["label"] = ["N"]
    return node("Gather", [const("classes", classes, classes.dtype), index], "label", axis=0)


def export(model: Any, path: str | os.PathLike[str], *, opset: int = OPSET, overwrite: bool = False) -> Path:
    """Write the ONNX graph of a network or fitted estimator to ``path`` (see the module doc).

    An existing file is replaced only with ``overwrite=True``; the file is written atomically."""
    return atomic_write(path, to_onnx(model, opset=opset).SerializeToString(), overwrite=overwrite)
