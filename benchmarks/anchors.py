"""The contenders, each behind the same small interface: chainrule, the hand-written NumPy loop,
PyTorch on the CPU and scikit-learn's MLPClassifier.

A trainer is built from a `Workload`, the data and the initial weights, and offers
``train(epochs) -> last epoch's mean loss``, ``predict_proba(X)`` and ``params()``. Each does what
its users do: chainrule calls `chainrule.fit`, PyTorch runs the usual loop of ``nn.Linear`` layers,
``nn.CrossEntropyLoss`` and ``torch.optim`` over index batches of in-memory tensors, scikit-learn
calls ``MLPClassifier.fit``. chainrule, the NumPy loop and PyTorch shuffle with the same generator
(``np.random.default_rng(seed).shuffle`` of the row order, each epoch), so they see the same batches.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any, Protocol

import numpy as np

import chainrule as cr
from benchmarks.numpy_loop import NumpyLoop
from benchmarks.workloads import Params, Workload

ANCHORS = ("chainrule", "numpy", "torch", "sklearn")


class Trainer(Protocol):
    def train(self, epochs: int) -> float: ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...

    def params(self) -> Params: ...


def available(name: str) -> bool:
    module = {"torch": "torch", "sklearn": "sklearn"}.get(name)
    return module is None or importlib.util.find_spec(module) is not None


def make_trainer(
    name: str, w: Workload, X: np.ndarray, y: np.ndarray, params: Params, shuffle: bool = True
) -> Trainer:
    cls = {"chainrule": Chainrule, "numpy": Numpy, "torch": Torch, "sklearn": Sklearn}[name]
    return cls(w, X, y, params, shuffle)


class Chainrule:
    def __init__(self, w: Workload, X: np.ndarray, y: np.ndarray, params: Params, shuffle: bool) -> None:
        self.net = cr.Network.from_sizes(w.sizes, w.activation, seed=w.seed)
        for level, (W, b) in zip(self.net.levels, params, strict=True):
            level.W[...], level.b[...] = W, b
        # fit shuffles with the network's generator: put it where the others' generators start
        self.net.rng.bit_generator.state = np.random.default_rng(w.seed).bit_generator.state
        self.opt = cr.SGD(w.lr) if w.optimizer == "sgd" else cr.Adam(w.lr)
        self.w, self.X, self.y, self.shuffle = w, X, y, shuffle

    def train(self, epochs: int) -> float:
        history = cr.fit(
            self.net,
            self.X,
            self.y,
            epochs=epochs,
            batch_size=self.w.batch_size,
            optimizer=self.opt,
            shuffle=self.shuffle,
        )
        return history["loss"][-1]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.net.predict_proba(X)

    def params(self) -> Params:
        return [(level.W.copy(), level.b.copy()) for level in self.net.levels]


class Numpy:
    def __init__(self, w: Workload, X: np.ndarray, y: np.ndarray, params: Params, shuffle: bool) -> None:
        rng = np.random.default_rng(w.seed)
        self.loop = NumpyLoop(params, w.activation, w.optimizer, w.lr, w.batch(len(X)), rng)
        self.X, self.y, self.shuffle = X, y, shuffle

    def train(self, epochs: int) -> float:
        return self.loop.fit(self.X, self.y, epochs, self.shuffle)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.loop.predict_proba(X)

    def params(self) -> Params:
        return self.loop.params()


class Torch:
    """``nn.Sequential`` of ``nn.Linear`` and ``nn.ReLU``/``nn.Sigmoid``, ``nn.CrossEntropyLoss``
    (log-softmax and NLL fused), ``torch.optim.SGD``/``Adam``; batches are index tensors into the
    data held as tensors (``torch.from_numpy``, no copy)."""

    def __init__(self, w: Workload, X: np.ndarray, y: np.ndarray, params: Params, shuffle: bool) -> None:
        import torch

        layers: list[Any] = []
        for i, (W, b) in enumerate(params):
            linear = torch.nn.Linear(*W.shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W.T))  # torch keeps W as (n_out, n_in)
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            if i < len(params) - 1:
                layers.append(torch.nn.ReLU() if w.activation == "relu" else torch.nn.Sigmoid())
        self.torch, self.model = torch, torch.nn.Sequential(*layers)
        # fused=True: one kernel for all parameters, PyTorch's fastest CPU optimiser (its default,
        # a Python loop over the parameters, is up to 3× slower for Adam at batch 32)
        params = self.model.parameters()
        if w.optimizer == "sgd":
            self.opt = torch.optim.SGD(params, lr=w.lr, fused=True)
        else:
            self.opt = torch.optim.Adam(params, lr=w.lr, betas=(0.9, 0.999), eps=1e-8, fused=True)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        self.batch_size, self.shuffle = w.batch(len(X)), shuffle
        self.order, self.rng = np.arange(len(X)), np.random.default_rng(w.seed)

    def train(self, epochs: int) -> float:
        n, bs = len(self.X), self.batch_size
        loss_value = 0.0
        for _ in range(epochs):
            perm = None
            if self.shuffle and bs < n:
                self.rng.shuffle(self.order)
                perm = self.torch.from_numpy(self.order)
            total = 0.0
            for start in range(0, n, bs):
                if perm is None:
                    xb, yb = self.X[start : start + bs], self.y[start : start + bs]
                else:
                    rows = perm[start : start + bs]
                    xb, yb = self.X[rows], self.y[rows]
                loss = self.loss_fn(self.model(xb), yb)
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()
                total += loss.item() * len(xb)
            loss_value = total / n
        return loss_value

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            return self.torch.softmax(self.model(self.torch.from_numpy(X)), dim=1).numpy()

    def params(self) -> Params:
        linears = [m for m in self.model if isinstance(m, self.torch.nn.Linear)]
        return [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in linears]


class Sklearn:
    """``MLPClassifier`` with the same sizes, activation, solver (momentum 0), batch size and
    learning rate, no L2 penalty (``alpha=0``), started from the same weights (``warm_start``)."""

    def __init__(self, w: Workload, X: np.ndarray, y: np.ndarray, params: Params, shuffle: bool) -> None:
        from sklearn.neural_network import MLPClassifier

        self.clf = MLPClassifier(
            hidden_layer_sizes=tuple(w.sizes[1:-1]),
            activation="relu" if w.activation == "relu" else "logistic",
            solver=w.optimizer,
            alpha=0.0,
            batch_size=w.batch(len(X)),
            learning_rate="constant",
            learning_rate_init=w.lr,
            momentum=0.0,
            nesterovs_momentum=False,
            epsilon=1e-8,
            shuffle=shuffle,
            random_state=w.seed,
            tol=0.0,
            n_iter_no_change=2**31 - 1,
            max_iter=1,
            warm_start=True,
        )
        self.X, self.y = X, y
        one_per_class = [np.flatnonzero(y == c)[0] for c in np.unique(y)]
        self._fit(X[one_per_class], y[one_per_class])  # sets up classes_ and the layers
        self.clf.coefs_ = [W.copy() for W, _ in params]
        self.clf.intercepts_ = [b.copy() for _, b in params]

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "did not converge": max_iter epochs is what we ask for
            self.clf.fit(X, y)

    def train(self, epochs: int) -> float:
        self.clf.max_iter = epochs
        self._fit(self.X, self.y)
        return float(self.clf.loss_)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.clf.predict_proba(X)

    def params(self) -> Params:
        return [(W.copy(), b.copy()) for W, b in zip(self.clf.coefs_, self.clf.intercepts_, strict=True)]
