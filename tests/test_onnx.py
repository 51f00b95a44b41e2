"""chainrule.onnx: exported graphs run in onnxruntime and give chainrule's outputs (float32, 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.onnx import export, to_onnx
from tests.conftest import LOSS_OUTPUTS

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"]


def _run(model, X):
    """Every output of the exported graph, by name."""
    session = ort.InferenceSession(to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"input": X}), strict=True))


def _random_network(hidden, loss, output, k, rng, dtype="float32"):
    net = cr.Network.from_sizes(
        [5, 7, 6, k], activation=hidden, output=output, loss=loss, seed=0, dtype=dtype
    )
    net.flat_params[...] = rng.normal(0, 0.8, net.n_parameters)  # biases too, not only weights
    return net


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize(("loss", "output", "k"), LOSS_OUTPUTS)
def test_every_activation_and_loss_matches_chainrule(hidden, loss, output, k, rng):
    net = _random_network(hidden, loss, output, k, rng)
    for n in (1, 9):  # the batch dimension is dynamic
        X = rng.normal(0, 2, (n, 5)).astype(np.float32)
        out = _run(net, X)
        np.testing.assert_allclose(out["output"], net.forward(X), rtol=1e-5, atol=1e-5)
        if net.loss.classifier:
            np.testing.assert_array_equal(out["label"], net.predict(X))
        else:
            assert list(out) == ["output"]


def test_graph_is_checked_dynamic_and_opset_17(rng):
    model = to_onnx(_random_network("relu", "cross_entropy", "softmax", 3, rng))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 17
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and dims[1].dim_value == 5
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("Gemm") == 3 and "Softmax" in ops and "Relu" in ops


def test_standardisation_dropout_and_float64(rng):
    net = cr.Network.from_sizes(
        [3, 8, 2], activation="tanh", dropout=0.5, loss="squared_error", dtype="float64"
    )
    net.metadata["standardize"] = {"mean": [1.0, -2.0, 0.5], "scale": [2.0, 0.5, 3.0]}
    X = rng.normal(size=(6, 3))  # raw features: float64 into a graph that standardises
    expected = net.forward((X - np.array([1.0, -2.0, 0.5])) / np.array([2.0, 0.5, 3.0]))  # dropout off
    np.testing.assert_allclose(_run(net, X)["output"], expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(Exception, match="tensor"):  # float32 raw features would lose digits
        _run(net, X.astype(np.float32))
    net.metadata["standardize"] = {"mean": [0.0], "scale": [1.0]}
    with pytest.raises(ValueError, match="standardize"):
        to_onnx(net)


@pytest.mark.parametrize("labels", [["cat", "dog", "emu"], [3, 7], [1.0, 2.0, 5.0]])
def test_estimator_labels_come_back_as_the_classes(labels, rng):
    from chainrule.sklearn import MLPClassifier

    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = np.asarray(labels)[rng.integers(0, len(labels), 40)]
    est = MLPClassifier((6,), max_iter=10, random_state=0).fit(X, y)
    out = _run(est, X)
    np.testing.assert_array_equal(out["label"], est.predict(X))
    proba = est.predict_proba(X)
    np.testing.assert_allclose(out["output"], proba[:, 1:] if len(labels) == 2 else proba, atol=1e-5)


def test_export_writes_a_file_and_keeps_an_existing_one(tmp_path, rng):
    from chainrule.sklearn import MLPRegressor

    X = rng.normal(size=(30, 4))
    est = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, X[:, :2])
    path = export(est, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"input": X.astype(np.float32)})
    np.testing.assert_allclose(out, est.predict(X), rtol=1e-5, atol=1e-5)
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert '"task": "regression"' in meta["chainrule.metadata"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export(est, path)
    export(est, path, overwrite=True)
    with pytest.raises(TypeError, match=r"fitted chainrule\.sklearn estimator"):
        export("model.safetensors", tmp_path / "other.onnx")
    with pytest.raises(ValueError, match="opset"):
        to_onnx(est, opset=11)


def test_raw_features_far_from_zero_keep_their_digits(rng):
    """Timestamps of 1.7e12 ms, 500 ms apart: float32 holds them only to multiples of 131072, so a
    graph taking float32 raw input predicted from noise (accuracy 0.49 where predict gave 0.99)."""
    X = np.stack([1.7e12 + 500.0 * np.arange(200), rng.normal(size=200)], axis=1)
    net = cr.Network.from_sizes([2, 4, 2], activation="tanh", seed=0)
    from chainrule.preprocessing import Standardizer

    std = Standardizer.fit(X)
    net.metadata["standardize"] = std.to_metadata()
    np.testing.assert_allclose(_run(net, X)["output"], net.forward(std(X, np.float32)), rtol=1e-5, atol=1e-6)
