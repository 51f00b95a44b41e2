"""chainrule.sklearn: scikit-learn's own estimator checks, exact agreement with scikit-learn's MLP on
the same weights, the extras (dropout, class_weight, hidden activations...), files, bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.optimize
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import chainrule as cr
from chainrule.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# float32 (the default) rounds at ~1e-7 relative, the same size as these checks' tolerance
# (rtol=1e-7): a row predicted alone or in a batch (BLAS picks another kernel), or a fit on
# weighted instead of repeated rows, differ in the last bit or two. The float64 instances below
# pass both checks, which shows that nothing but float32 rounding is at stake.
FLOAT32_ROUNDING = {
    "check_sample_weight_equivalence_on_dense_data": "float32 rounding ~1e-7 > the check's rtol 1e-7",
    "check_sample_weight_equivalence_on_sparse_data": "float32 rounding ~1e-7 > the check's rtol 1e-7",
}


def _expected_failed_checks(estimator):
    return FLOAT32_ROUNDING if estimator.dtype == "float32" else {}


@parametrize_with_checks(
    [
        MLPClassifier(max_iter=100),
        MLPRegressor(max_iter=100),
        MLPClassifier((10,), max_iter=30, dtype="float64", solver="lbfgs"),
        MLPRegressor(max_iter=100, dtype="float64"),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ------------------------------------------------------------------------------------ agreement
def _problems(rng):
    X = rng.normal(size=(70, 5))
    return X, {
        "multiclass": rng.integers(0, 3, 70),
        "binary": rng.choice(["no", "yes"], 70),
        "multilabel": rng.integers(0, 2, (70, 3)),
        "regression": rng.normal(size=70),
    }


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression"])
def test_same_steps_as_scikit_learn(solver, kind, rng):
    """From the same weights, three epochs (or L-BFGS iterations) of chainrule and of scikit-learn
    give the same weights and losses: its L2 term α/(2n)‖W‖² per batch, its weighted mean,
    a short last batch, Nesterov momentum, Adam."""
    X, targets = _problems(rng)
    y = targets[kind]
    sw = rng.uniform(0.5, 2, len(X))
    Sk, Ours = (SkMLPRegressor, MLPRegressor) if kind == "regression" else (SkMLPClassifier, MLPClassifier)
    # Adam: scikit-learn adds ε to √v before the bias correction, chainrule after it (as the
    # paper's algorithm 1); a tiny ε makes the two rules agree to rounding.
    kw = dict(hidden_layer_sizes=(6, 4), activation="tanh", solver=solver, alpha=0.3, batch_size=32)
    kw |= dict(shuffle=False, learning_rate_init=0.05, random_state=0, epsilon=1e-14)
    sk = Sk(max_iter=1, **kw).fit(X, y, sample_weight=sw)
    ours = Ours(max_iter=1, dtype="float64", **kw).fit(X, y, sample_weight=sw)
    for mine, theirs in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_, strict=True):
        mine[...] = theirs  # views into the network's parameters
    sk.set_params(warm_start=True, max_iter=3).fit(X, y, sample_weight=sw)
    ours.set_params(warm_start=True, max_iter=3).fit(X, y, sample_weight=sw)
    for mine, theirs in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-8, atol=1e-9)
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-9)
    assert ours.n_iter_ == sk.n_iter_
    if solver != "lbfgs":
        np.testing.assert_allclose(
            ours.loss_curve_[1:], sk.loss_curve_[1:], rtol=1e-9
        )  # epoch 1: other weights
        assert ours.t_ == sk.t_
    np.testing.assert_allclose(
        ours.predict_proba(X) if kind != "regression" else ours.predict(X),
        sk.predict_proba(X) if kind != "regression" else sk.predict(X),
        rtol=1e-7,
    )
    np.testing.assert_array_equal(
        ours.predict(X) if kind != "regression" else 0, sk.predict(X) if kind != "regression" else 0
    )


def test_lbfgs_objective_gradient_matches_finite_differences(rng):
    """The full-batch L(θ) and ∇L(θ) that L-BFGS sees (the core's weighted loss, with the L2
    penalty) agree."""
    X, targets = _problems(rng)
    est = MLPClassifier((4,), solver="lbfgs", alpha=0.5, max_iter=1, dtype="float64", random_state=0)
    est.fit(X, targets["multiclass"])
    net, w = est.network_, rng.uniform(0.5, 2, len(X))
    Y = net.check_y(targets["multiclass"], len(X))
    from chainrule.sklearn_parts import L2 as _L2

    l2 = _L2(net, est.alpha)

    def value(theta):
        net.flat_params[...] = theta
        return net.train_step(X, Y, w, l2)

    def grad(theta):
        value(theta)
        return net.flat_grads.copy()

    theta = net.flat_params.copy()
    assert scipy.optimize.check_grad(value, grad, theta, epsilon=1e-6) < 1e-5 * np.linalg.norm(grad(theta))
    # and the value is scikit-learn's weighted log-loss plus α/(2 Σw)‖W‖²
    from sklearn.metrics import log_loss

    value(theta)
    expected = (
        log_loss(targets["multiclass"], net.forward(X), sample_weight=w)
        + 0.5 * est.alpha * sum(float((W**2).sum()) for W in est.coefs_) / w.sum()
    )
    assert value(theta) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_l2_penalty_adds_alpha_w_over_n_in_place(dtype, rng):
    """The penalty's gradient lands in the network's own ∂L/∂W (BLAS axpy writes in place only
    for an array of its dtype: a silent copy would drop the penalty), the biases untouched."""
    from chainrule import Network
    from chainrule.sklearn_parts import L2 as _L2

    net = Network.from_sizes([5, 4, 3], dtype=dtype, seed=0)
    grads = rng.normal(size=net.flat_grads.shape).astype(dtype)
    net.flat_grads[...] = grads
    before = [(level.dW.copy(), level.db.copy()) for level in net.levels]
    alpha, n = 0.3, 8.0
    value = _L2(net, alpha)(1 / n)
    assert value == pytest.approx(
        alpha / (2 * n) * sum(float((lv.W.astype(float) ** 2).sum()) for lv in net.levels)
    )
    rtol = 1e-6 if dtype == "float32" else 1e-14
    for level, (dW, db) in zip(net.levels, before, strict=True):
        np.testing.assert_allclose(level.dW, dW + alpha / n * level.W, rtol=rtol)
        np.testing.assert_array_equal(level.db, db)
    assert _L2(net, 0.0)(1 / n) == 0.0


# ------------------------------------------------------------------------------------ the tools
def test_pipeline_grid_search_cross_val_clone_and_pandas(digits):
    pd = pytest.importorskip("pandas")
    X_train, X_test, y_train, y_test = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier((32,), batch_size=50, max_iter=20, random_state=0))
    assert pipe.fit(X_train, y_train).score(X_test, y_test) > 0.9
    small = MLPClassifier((16,), batch_size=32, max_iter=20, random_state=0)
    grid = GridSearchCV(small, {"hidden_layer_sizes": [(2,), (16,)]}, cv=2)
    grid.fit(X_train[:600], y_train[:600])
    assert grid.best_params_ == {"hidden_layer_sizes": (16,)}
    # scikit-learn's initial weights (the default): scikit-learn itself gets 0.64 on these rows
    assert cross_val_score(small, X_train[:600], y_train[:600], cv=3).mean() > 0.7
    est = MLPClassifier((16,), max_iter=5, random_state=0)
    assert clone(est).get_params() == est.get_params()
    df = pd.DataFrame(X_train[:300], columns=[f"pixel{i}" for i in range(64)])
    fitted = MLPClassifier((8,), max_iter=5, random_state=0).fit(df, y_train[:300])
    assert list(fitted.feature_names_in_) == list(df.columns)
    with pytest.raises(ValueError, match="feature names"):
        fitted.predict(df.rename(columns={"pixel0": "other"}))


def test_more_than_scikit_learn(digits, capsys):
    """dropout, one activation per layer, float64, class_weight, validation loss, a progress bar,
    hidden activations."""
    X_train, X_test, y_train, y_test = digits
    est = MLPClassifier(
        (32, 16),
        activation=("relu", "tanh"),
        dropout=(0.2, 0.0),
        early_stopping=True,
        batch_size=32,
        max_iter=40,
        random_state=0,
        verbose=True,
    ).fit(X_train, y_train)
    assert est.score(X_test, y_test) > 0.9
    assert [type(la).__name__ for la in est.network_.layers] == [
        "Dense",
        "ReLU",
        "Dropout",
        "Dense",
        "Tanh",
        "Dense",
        "Softmax",
    ]
    assert len(est.validation_loss_curve_) == len(est.validation_scores_) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_)
    bar = capsys.readouterr().err  # Rich's bar on stderr, as it stands after the last epoch
    assert (
        "MLPClassifier" in bar and f"loss {est.loss_:.5g}  val_score {est.validation_scores_[-1]:.5g}" in bar
    )
    hidden = est.hidden_activations(X_test[:5])
    a1 = np.maximum(X_test[:5] @ est.coefs_[0] + est.intercepts_[0], 0)
    np.testing.assert_allclose(hidden[0], a1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        hidden[1], np.tanh(a1 @ est.coefs_[1] + est.intercepts_[1]), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_array_equal(est.transform(X_test[:5]), hidden[1])
    assert (
        MLPClassifier((4,), max_iter=2, dtype="float64").fit(X_train, y_train).coefs_[0].dtype == np.float64
    )

    # class_weight: the minority class of an imbalanced problem is found more often
    keep = (y_train != 1) | (np.arange(len(y_train)) % 8 == 0)
    Xi, yi = X_train[keep], (y_train[keep] == 1).astype(int)
    recall = {}
    for cw in (None, "balanced"):
        m = MLPClassifier((8,), max_iter=30, class_weight=cw, random_state=0).fit(Xi, yi)
        recall[cw] = m.predict(X_test)[y_test == 1].mean()
    assert recall["balanced"] > recall[None]


def test_partial_fit_learns_and_guards_classes(digits):
    X_train, X_test, y_train, y_test = digits
    est = MLPClassifier((32,), batch_size=20, learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X_train, y_train)
    losses = []
    for start in range(0, 1200, 100):
        est.partial_fit(X_train[start : start + 100], y_train[start : start + 100], classes=np.arange(10))
        losses.append(est.loss_)
    assert losses[-1] < losses[0] / 4
    assert est.t_ == 1200 and est.score(X_test, y_test) > 0.9
    with pytest.raises(ValueError, match=r"`y` has classes not in `self.classes_`.*'y' has \[ 1  2 10\]"):
        est.partial_fit(X_train[:3], [1, 2, 10])
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


def test_multilabel_multioutput_and_lbfgs(rng):
    X = rng.normal(size=(200, 4))
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] < 0.5], axis=1).astype(int)
    clf = MLPClassifier((16,), solver="lbfgs", max_iter=200, random_state=0).fit(X, Y)
    assert clf.predict(X).shape == (200, 3) and clf.score(X, Y) > 0.95
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    assert len(clf.loss_curve_) == clf.n_iter_ and clf.loss_ == pytest.approx(clf.loss_curve_[-1])
    T = np.stack([X[:, 0] * 2 - X[:, 1], np.sin(X[:, 2])], axis=1)
    reg = MLPRegressor(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=300, random_state=0).fit(X, T)
    assert reg.predict(X).shape == (200, 2) and reg.score(X, T) > 0.95
    assert reg.predict(X).dtype == np.float64 and reg.out_activation_ == "identity"


def test_stopping_rule_and_adaptive_learning_rate(rng):
    X = rng.normal(size=(100, 3))
    y = X[:, 0]
    stopped = MLPRegressor(
        hidden_layer_sizes=(8,), solver="sgd", tol=10.0, n_iter_no_change=3, max_iter=50, random_state=0
    )
    assert stopped.fit(X, y).n_iter_ == 5  # epoch 1 sets best_loss_, epochs 2..5 fail to beat it by tol
    adaptive = MLPRegressor(
        hidden_layer_sizes=(8,),
        solver="sgd",
        learning_rate="adaptive",
        tol=10.0,
        n_iter_no_change=1,
        max_iter=30,
        random_state=0,
    ).fit(X, y)
    assert adaptive._optimizer.lr < 1e-6  # divided by 5 on each stall, until it was too small
    sk = SkMLPRegressor(
        hidden_layer_sizes=(8,),
        solver="sgd",
        learning_rate="adaptive",
        tol=10.0,
        n_iter_no_change=1,
        max_iter=30,
        random_state=0,
    ).fit(X, y)
    assert adaptive.n_iter_ == sk.n_iter_ and adaptive._optimizer.lr == pytest.approx(
        sk._optimizer.learning_rate
    )
    inv = MLPRegressor(
        hidden_layer_sizes=(8,), solver="sgd", learning_rate="invscaling", max_iter=3, random_state=0
    ).fit(X, y)
    assert inv._optimizer.lr == pytest.approx(0.001 / (200 + 1) ** 0.5)  # the third epoch's: t = 200
    assert inv._optimizer.schedule(3) == pytest.approx(0.001 / (300 + 1) ** 0.5)


def test_invscaling_partial_fit_takes_scikit_learns_steps(rng):
    """learning_rate="invscaling" (η₀ / (t_ + 1)^power_t, t_ the samples seen) through
    partial_fit, from the same weights: the same weights as scikit-learn after every call."""
    X, y = rng.normal(size=(60, 4)), rng.normal(size=60)
    kw = dict(solver="sgd", learning_rate="invscaling", power_t=0.7, momentum=0.0, shuffle=False)
    kw |= dict(learning_rate_init=0.2, batch_size=16, alpha=0.01, random_state=0)
    sk, ours = (
        SkMLPRegressor(hidden_layer_sizes=(5,), **kw),
        MLPRegressor(hidden_layer_sizes=(5,), dtype="float64", **kw),
    )
    sk.partial_fit(X, y)
    ours.partial_fit(X, y)
    for mine, theirs in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_, strict=True):
        mine[...] = theirs
    for _ in range(4):
        sk.partial_fit(X, y)
        ours.partial_fit(X, y)
    for mine, theirs in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    assert ours.t_ == sk.t_ == 300 and ours.loss_ == pytest.approx(sk.loss_, rel=1e-10)


# ------------------------------------------------------------------------------------ files
def test_save_load_round_trip(tmp_path, rng):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    y = rng.choice(["cat", "dog", "emu"], 60)
    est = MLPClassifier((5,), max_iter=5, random_state=0, class_weight={"cat": 2.0, "dog": 1.0, "emu": 1.0})
    est.fit(X, y)
    path = est.save(tmp_path / "model.safetensors")
    back = MLPClassifier.load(path)
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    assert back.get_params() == est.get_params()
    assert back.loss_curve_ == est.loss_curve_ and back.n_iter_ == est.n_iter_ and back.t_ == est.t_
    assert list(back.feature_names_in_) == ["a", "b", "c"] and list(back.classes_) == ["cat", "dog", "emu"]
    meta = cr.load(path).metadata
    assert meta["classes"] == ["cat", "dog", "emu"] and meta["feature_names"] == ["a", "b", "c"]
    assert meta["task"] == "classification"
    with pytest.raises(FileExistsError):
        est.save(path)
    with pytest.raises(ValueError, match=r"MLPClassifier\.load"):
        MLPRegressor.load(path)
    back.set_params(warm_start=True, max_iter=2).fit(X, y)  # a loaded estimator trains on
    assert back.n_iter_ == 2


def test_a_network_trained_elsewhere_loads_as_an_estimator(tmp_path, rng):
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    net = cr.Network.from_sizes([4, 6, 3], activation="tanh", seed=0)
    cr.fit(net, X, y, epochs=2)
    net.metadata = {"classes": ["a", "b", "c"], "standardize": {"mean": [1, 1, 1, 1], "scale": [2, 2, 2, 2]}}
    cr.save(net, tmp_path / "m.safetensors")
    est = MLPClassifier.load(tmp_path / "m.safetensors")
    assert est.hidden_layer_sizes == (6,) and est.activation == "tanh"
    expected = np.array(["a", "b", "c"])[net.predict((X - 1) / 2)]  # the model's standardisation first
    np.testing.assert_array_equal(est.predict(X), expected)


def test_pickle_keeps_the_network_whole(rng):
    import pickle

    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    back.set_params(warm_start=True).fit(X, y)  # its layers' W are still views of the flat parameters
    assert not np.array_equal(back.predict(X), est.predict(X))
    assert np.shares_memory(back.coefs_[0], back.network_.flat_params)


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("hidden_layer_sizes", (10, 0)),
        ("hidden_layer_sizes", "wide"),
        ("activation", "softplus"),
        ("activation", ("relu",) * 3),
        ("solver", "newton"),
        ("alpha", -1.0),
        ("batch_size", 0),
        ("learning_rate", "cyclic"),
        ("learning_rate_init", 0.0),
        ("max_iter", 0),
        ("momentum", 1.5),
        ("validation_fraction", 1.0),
        ("beta_1", 1.0),
        ("epsilon", 0.0),
        ("n_iter_no_change", 0),
        ("dropout", 1.0),
        ("dtype", "float16"),
        ("shuffle", "yes"),
        ("class_weight", "even"),
        ("random_state", "seed"),
    ],
)
def test_bad_parameters_are_named(param, value, rng):
    X, y = rng.normal(size=(10, 2)), np.arange(10) % 2
    with pytest.raises(ValueError, match=param):
        MLPClassifier(**{"max_iter": 1, param: value}).fit(X, y)


def test_bad_data_gets_clear_errors(rng):
    import scipy.sparse

    X, y = rng.normal(size=(20, 3)), np.arange(20) % 2
    est = MLPClassifier((4,), max_iter=2, random_state=0)
    with pytest.raises(ValueError, match="NaN"):
        est.fit(np.where(X > 1, np.nan, X), y)
    with pytest.raises(ValueError, match="NaN or inf"):
        est.fit(np.where(X > 1, np.inf, X), y)
    with pytest.raises(ValueError, match="too large for float32"), np.errstate(over="ignore"):
        est.fit(np.where(X > 1, 1e300, X), y)  # the cast to float32 overflows (silenced here)
    assert not hasattr(est, "network_")  # a first fit that failed leaves no fitted network
    one = MLPClassifier((4,), max_iter=2, random_state=0).fit(X, np.zeros(20))  # as scikit-learn: fits
    assert one.classes_.tolist() == [0.0] and (one.predict(X) == 0).all()
    with pytest.raises(ValueError, match="Unknown label type"):
        est.fit(X, rng.normal(size=20))
    with pytest.raises(ValueError, match="NaN or inf"):  # sparse X is taken; its stored values checked
        est.fit(scipy.sparse.csr_matrix(np.where(X > 1, np.nan, X)), y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(X, y[:-1])
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        est.fit(X, y, sample_weight=np.ones(3))
    est.fit(X, y)
    with pytest.raises(ValueError, match="3 features"):
        est.predict(X[:, :2])
    with pytest.raises(ValueError, match="2D array"):
        est.predict(X[0])
    with pytest.raises(ValueError, match="dropout needs solver"):
        MLPClassifier(solver="lbfgs", dropout=0.5).fit(X, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning, match=r"Maximum iterations \(2\)"):
            MLPClassifier((4,), max_iter=2, tol=0).fit(X, y)
    assert math.isfinite(est.loss_)


def test_score_with_labels_never_seen_counts_them_wrong_as_scikit_learn_does(rng):
    """docs/reliability.md E2: partial_fit refuses unseen labels (naming them); score counts
    them as errors, as scikit-learn's accuracy does."""
    X, y = rng.normal(size=(20, 3)), np.array(["a", "b"] * 10, dtype=object)
    est = MLPClassifier((4,), max_iter=5, random_state=0).fit(X, y)
    unseen = y.copy()
    unseen[:4] = "zebra"
    right = est.predict(X) == y
    assert est.score(X, unseen) == pytest.approx(right[4:].sum() / 20)
    with pytest.raises(ValueError, match=r"`y` has classes not in `self.classes_`.*'zebra'"):
        est.partial_fit(X, unseen)


# ------------------------------------------------------------------------------------ one fit loop
def test_the_estimator_trains_through_chainrule_fit_bit_for_bit(rng):
    """An estimator's epochs are `chainrule.fit`'s: from the same network (weights and generator),
    with the same SGD, batches, row weights and L2 penalty, the same weights to the last bit."""
    from chainrule.sklearn_parts import L2 as _L2

    X, y = rng.normal(size=(90, 5)), rng.integers(0, 3, 90)
    sw = rng.uniform(0.5, 2, 90)
    kw = dict(solver="sgd", learning_rate_init=0.05, momentum=0.9, batch_size=16, alpha=0.01)
    est = MLPClassifier((8,), max_iter=1, random_state=0, **kw).fit(X, y, sample_weight=sw)
    net = est.network_.copy()  # the weights and the shuffling generator as they are now
    est.set_params(warm_start=True, max_iter=6, tol=0.0).fit(X, y, sample_weight=sw)
    opt = cr.SGD(0.05, momentum=0.9, nesterov=True)
    history = cr.fit(
        net, X, y, epochs=6, batch_size=16, optimizer=opt, sample_weight=sw, penalty=_L2(net, 0.01)
    )
    np.testing.assert_array_equal(est.network_.flat_params, net.flat_params)
    assert est.loss_curve_[1:] == history["loss"] and est.n_iter_ == history.epochs == 6


@pytest.mark.parametrize("rows", [80, 120])
def test_early_stopping_split_is_stratified_only_for_binary_labels(digits, rows, monkeypatch):
    """As scikit-learn: with 10 classes, 80 rows (a validation set of 8 < 10 classes) and a class
    with a single row, the split is not stratified and fit works; binary labels are stratified."""
    import chainrule.sklearn_solvers as crsk

    X_train, _, y_train, _ = digits
    X, y = X_train[:rows].copy(), y_train[:rows].copy()
    y[y == 9] = 8
    y[0] = 9  # one row of class 9
    est = MLPClassifier((16,), early_stopping=True, max_iter=5, random_state=0).fit(X, y)
    assert len(est.validation_scores_) == est.n_iter_ == 5 and list(est.classes_) == list(range(10))
    sk = SkMLPClassifier((16,), early_stopping=True, max_iter=5, random_state=0).fit(X, y)
    assert len(sk.validation_scores_) == 5
    stratified = []

    def split(*arrays, stratify=None, **kw):
        stratified.append(stratify is not None)
        return crsk.__dict__["_split"](*arrays, stratify=stratify, **kw)

    monkeypatch.setitem(crsk.__dict__, "_split", crsk.train_test_split)
    monkeypatch.setattr(crsk, "train_test_split", split)
    yb = (y > 4).astype(int)
    MLPClassifier((4,), early_stopping=True, max_iter=2, random_state=0).fit(X, yb)
    MLPClassifier((4,), early_stopping=True, max_iter=2, random_state=0).fit(X, y)
    MLPClassifier((4,), early_stopping=True, max_iter=2, random_state=0).fit(X, np.stack([yb, 1 - yb], 1))
    assert stratified == [True, False, False]  # binary; multi-class; multi-label


# ------------------------------------------------------------------------------------ parity (issue 16)
def test_probabilities_are_float64_from_the_logits(rng):
    """predict_proba rows sum to 1 to 1e-12 (float64 log-softmax of z^(O)); predict_log_proba of
    saturated sigmoid outputs is finite (log σ(−z) = −softplus(z)), where log(p) would be −inf."""
    X, y = rng.normal(size=(200, 6)), rng.integers(0, 4, 200)
    clf = MLPClassifier((16,), max_iter=50, random_state=0).fit(X, y)
    p = clf.predict_proba(X)
    assert p.dtype == np.float64
    assert np.abs(p.sum(axis=1) - 1).max() < 1e-12
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(p), rtol=1e-10)
    binary = MLPClassifier((8,), max_iter=20, random_state=0).fit(X * 1e4, y % 2)  # saturates
    log_p = binary.predict_log_proba(X * 1e4)
    assert np.isfinite(log_p).all() and (log_p < -100).any()
    assert np.abs(binary.predict_proba(X * 1e4).sum(axis=1) - 1).max() < 1e-12


def test_class_checks_as_scikit_learn(rng):
    X = rng.normal(size=(30, 3))
    clf = MLPClassifier((4,), warm_start=True, max_iter=3, random_state=0).fit(X, np.arange(30) % 3)
    with pytest.raises(ValueError, match=r"warm_start can only be used where `y` has the same classes"):
        clf.fit(X, np.arange(30) % 2)
    part = MLPClassifier((4,), random_state=0).partial_fit(X, np.arange(30) % 2, classes=[0, 1])
    with pytest.raises(ValueError, match=r"`classes=\[1, 2\]` is not the same as on last call"):
        part.partial_fit(X, np.arange(30) % 2, classes=[1, 2])
    with pytest.raises(ValueError) as e:
        MLPClassifier((4,), warm_start=True, max_iter=3, random_state=0).fit(X, np.arange(30) % 2).fit(
            X, np.arange(30) % 3
        )
    assert "partial_fit" not in str(e.value)


def test_initial_weights_are_scikit_learns(rng):
    """init="glorot" (the default) draws scikit-learn's W and b; init="he" chainrule's."""
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    X, y = rng.normal(size=(40, 5)), rng.integers(0, 3, 40)
    for act in ("relu", "logistic"):
        ours = MLPClassifier(
            (7,), activation=act, max_iter=1, random_state=3, solver="lbfgs", dtype="float64"
        )
        sk = SkMLPClassifier((7,), activation=act, max_iter=1, random_state=3, solver="lbfgs")
        ours._random_state = np.random.RandomState(3)
        sk._random_state = np.random.RandomState(3)
        ours._build(5, [7], [act], [0.0], cr_head(3), np.dtype("float64"))
        drawn = [sk._init_coef(5, 7, np.float64), sk._init_coef(7, 3, np.float64)]
        expected = [W for W, _ in drawn] + [b for _, b in drawn]
        for a, b in zip(ours.coefs_ + ours.intercepts_, expected, strict=True):
            np.testing.assert_array_equal(a, b)
    he = MLPClassifier((7,), init="he", max_iter=1, random_state=3).fit(X, y)
    assert he.network_ is not None
    with pytest.raises(ValueError, match="init must be"):
        MLPClassifier(init="lecun").fit(X, y)


def cr_head(k: int):
    from chainrule.heads import head

    return head(k)


def test_sparse_X_trains_as_dense_without_densifying(rng):
    """CSR and CSC X give the weights dense X gives (float64), in fit, partial_fit, predict, score."""
    import scipy.sparse

    X = scipy.sparse.random(120, 30, density=0.1, random_state=0, format="csr")
    y = rng.integers(0, 3, 120)
    kw = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, dtype="float64", batch_size=16)
    dense = MLPClassifier(**kw).fit(X.toarray(), y)
    for fmt in ("csr", "csc"):
        sparse = MLPClassifier(**kw).fit(X.asformat(fmt), y)
        for a, b in zip(dense.coefs_, sparse.coefs_, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(sparse.predict_proba(X.asformat(fmt)), dense.predict_proba(X.toarray()))
        assert sparse.score(X.asformat(fmt), y) == dense.score(X.toarray(), y)
    sparse.partial_fit(X, y)
    reg = MLPRegressor(**kw).fit(X, rng.normal(size=120))
    assert reg.predict(X).shape == (120,)
