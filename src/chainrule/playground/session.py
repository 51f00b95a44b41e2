"""One browser tab's playground: its data, its network, and the training the page watches.

A session holds a `Network` and an optimiser and trains them with the library's own calls
(``train_step``, ``Optimizer.step``, the batches of `chainrule.fit`); it answers the page in
plain JSON-ready data:

    structure   the layers, the points, the plane's extent      (after a new setup)
    frame       losses, weights and every neuron's a over the input plane (while training)
    step        one iteration in its three phases, for one example:
                forward  z and a of every neuron, a^(0) = x → a^(O)
                backward σ'(z) and δ = ∂C/∂z of every neuron, from the output layer back
                update   every weight's change, −η ∂L/∂w for plain SGD (∂L/∂w = batch mean of a · δ,
                         plus λ₁ sign(w) + λ₂ w with L1 or L2 regularisation)
    neuron, weight   the numbers of `chainrule.explain`, the same that ``chainrule explain`` prints

Every call takes the session's lock: the training thread and the page's requests never see
a half-updated network.
"""

from __future__ import annotations

import math
import secrets
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.batches import Batches
from chainrule.diagram import GRID, example_passes, floats, heat_maps, plain_rules, plane
from chainrule.explain import explain
from chainrule.heads import head
from chainrule.io import save
from chainrule.network import Network
from chainrule.optimizers import optimizer as make_optimizer
from chainrule.playground.data import Table, make_data
from chainrule.playground.settings import FEATURE_NAMES, MAX_HIDDEN_LAYERS, MAX_NEURONS, Settings

Array = np.ndarray
HISTORY = 400  # loss-curve points kept; every other one is dropped when full


def number(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


class Session:
    """The state of one tab: settings, data, network, optimiser, step count and loss history."""

    def __init__(self, settings: Settings, table: Table | None = None) -> None:
        self.lock = threading.Lock()
        self.table = table
        self.running = False
        self.speed: float | None = None  # steps per second while running; None: full speed
        self.owed = 0.0  # steps the pace allows and not yet taken
        self.paced_at = time.perf_counter()
        self.error: str | None = None
        self.watcher = 0  # the event stream that trains; a newer one takes over
        self.used = time.monotonic()
        self.setup(settings)

    # ------------------------------------------------------------------------------ setup
    def setup(self, settings: Settings, table: Table | None = None) -> None:
        """Data, a fresh network and optimiser for ``settings`` (the seed makes it reproducible)."""
        table = table or self.table
        data = make_data(settings, table)
        if settings.data != "csv":
            table = self.table  # keep an uploaded CSV for later
        classes = len(data.classes) if data.task == "classification" else None
        h = head(classes, settings.loss, name="this data")  # the loss and outputs every face uses
        network = Network.from_sizes(
            [len(settings.features), *settings.hidden, h.n_outputs],
            activation=list(settings.activation),
            output=h.output,
            loss=h.loss,
            dropout=settings.dropout,
            seed=settings.seed,
        )
        network.metadata = data.metadata()
        opt = make_optimizer(settings.optimizer, settings.lr, weight_decay=settings.l2, l1=settings.l1)
        opt.bind(network)
        X_train, X_test = network.check_X(data.X_train), network.check_X(data.X_test)
        y_train, y_test = (
            network.check_y(data.y_train, len(X_train)),
            network.check_y(data.y_test, len(X_test)),
        )
        extent, points = plane(np.vstack([data.P_train, data.P_test]), GRID)
        with self.lock:
            self.settings, self.table, self.data, self.network, self.optimizer = (
                settings,
                table,
                data,
                network,
                opt,
            )
            self.X_train, self.y_train, self.X_test, self.y_test = X_train, y_train, X_test, y_test
            self.batches = Batches(X_train, y_train, settings.batch_size, shuffle=True)
            self.epoch_batches = iter(())
            self.steps = 0
            self.history: dict[str, list[float | None]] = {"step": [], "train": [], "test": []}
            self.running, self.error = False, None
            self.extent = extent
            self.grid = network.check_X(data.prepare(points))  # the features of every point of the map
            self.input_range = (self.grid.min(axis=0), self.grid.max(axis=0))  # each input's own colours
            x_range = (float(self.grid.min()), float(self.grid.max()))
            if data.task == "classification":
                out_range = (0.0, 1.0)
            else:
                out_range = (float(data.y_train.min()), float(data.y_train.max()))
                if out_range[0] == out_range[1]:
                    out_range = (out_range[0] - 1, out_range[1] + 1)
            self.ranges = [x_range, *[(-1.0, 1.0)] * len(settings.hidden), out_range]
            self._record()

    def structure(self) -> dict[str, Any]:
        """What the page draws once per setup: layers, points, extent, colour ranges."""
        with self.lock:
            d, net = self.data, self.network
            levels = [{"n": net.n_features, "activation": "input"}]
            levels += [
                {"n": lv.dense.n_out, "activation": getattr(lv.activation, "name", "identity")}
                for lv in net.levels
            ]
            return {
                "settings": self.settings.model_dump(),
                "task": d.task,
                "classes": [str(c) for c in d.classes],
                "feature_names": d.inputs,  # one per input of the network
                "columns": d.feature_names,  # the plane's axes (x₁, x₂)
                "features": list(FEATURE_NAMES),
                "limits": {"hidden_layers": MAX_HIDDEN_LAYERS, "neurons": MAX_NEURONS},
                "target": d.target,
                "levels": levels,
                "grid": GRID,
                "extent": self.extent,
                "ranges": self.ranges,
                "train": {"x": floats(d.P_train), "y": floats(d.y_train)},
                "test": {"x": floats(d.P_test), "y": floats(d.y_test)},
            }

    # ------------------------------------------------------------------------------ training
    def _batch(self) -> tuple[Array, Array]:
        """The next mini-batch; a new epoch (reshuffled by the network's generator) when one ends."""
        try:
            return next(self.epoch_batches)
        except StopIteration:
            self.epoch_batches = self.batches.epoch(self.network.rng)
            return next(self.epoch_batches)

    def _train_step(self) -> float:
        """θ ← θ − η ∇L(θ) on the next batch: forward, backward (``train_step``), update."""
        Xb, yb = self._batch()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value = self.network.train_step(Xb, yb)
            self.optimizer.step()
        self.steps += 1
        if not math.isfinite(value):
            self.running = False
            self.error = (
                f"training diverged at step {self.steps}: the loss is {value}; lower the learning rate "
                "and press Reset"
            )
        return value

    def train_for(self, seconds: float) -> dict[str, Any]:
        """Train (while running) for about ``seconds``, then return a frame."""
        with self.lock:
            self.used = time.monotonic()
            end = time.perf_counter() + seconds
            if self.speed is None:
                while self.running and time.perf_counter() < end:
                    self._train_step()
            elif self.running:  # at a pace: the steps the time since the last slice allows
                now = time.perf_counter()
                self.owed = min(
                    self.owed + self.speed * (now - self.paced_at), max(1.0, self.speed * seconds)
                )
                self.paced_at = now
                while self.running and self.owed >= 1 and time.perf_counter() < end:
                    self._train_step()
                    self.owed -= 1
            self._record()
            return self._frame()

    def set_running(self, running: bool, speed: float | None = None) -> None:
        with self.lock:
            if running and self.error:
                raise ValueError(self.error)
            self.running, self.speed = running, speed
            self.owed, self.paced_at = 1.0 if running else 0.0, time.perf_counter()  # a first step at once

    def _evaluate(self, X: Array, y: Array) -> dict[str, float | None]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = self.network.evaluate(X, y)
        return {k: number(v) for k, v in result.items()}

    def _record(self) -> None:
        """A point of the loss curves: L on the training and the test rows, at this step."""
        h = self.history
        if h["step"] and h["step"][-1] == self.steps:
            return
        h["step"].append(self.steps)
        h["train"].append(self._evaluate(self.X_train, self.y_train)["loss"])
        h["test"].append(self._evaluate(self.X_test, self.y_test)["loss"])
        if len(h["step"]) > HISTORY:
            for key in h:
                h[key] = h[key][::2]

    def frame(self) -> dict[str, Any]:
        with self.lock:
            return self._frame()

    def _frame(self) -> dict[str, Any]:
        net = self.network
        return {
            "step": self.steps,
            "epoch": self.steps * self.batches.size / len(self.X_train),
            "running": self.running,
            "error": self.error,
            "train": self._evaluate(self.X_train, self.y_train),
            "test": self._evaluate(self.X_test, self.y_test),
            "history": self.history,
            "weights": [{"W": floats(lv.W), "b": floats(lv.b)} for lv in net.levels],
            "maps": heat_maps(net, self.grid, [self.input_range, *self.ranges[1:]]),
        }

    # ------------------------------------------------------------------------------ one step, shown
    def _sample(self, sample: int) -> int:
        if not 0 <= sample < len(self.X_train):
            raise ValueError(f"example {sample} does not exist: choose 0..{len(self.X_train) - 1}")
        return sample

    def passes(self, sample: int) -> list[dict[str, Any]]:
        """z, a, σ'(z) and δ of every neuron for one training example (float64, no dropout)."""
        return example_passes(self.network, self.X_train, self.y_train, self._sample(sample))[0]

    def step(self, sample: int) -> dict[str, Any]:
        """One iteration: the example's forward and backward pass at the current weights, then the
        library's training step on the next batch, and every weight's change."""
        with self.lock:
            self.running = False
            if self.error:
                raise ValueError(self.error)
            passes = self.passes(sample)
            levels = self.network.levels
            before = [(lv.W.copy(), lv.b.copy()) for lv in levels]
            penalty = self._penalty_gradients()  # ∇R at the weights the step starts from
            batch_loss = self._train_step()
            update = [
                {
                    "dW": floats(lv.W - W),
                    "db": floats(lv.b - b),
                    "grad_W": floats(lv.dW),
                    "grad_b": floats(lv.db),
                    "penalty_W": floats(p),
                }
                for lv, (W, b), p in zip(levels, before, penalty, strict=True)
            ]
            self._record()
            return {
                "step": self.steps,
                "sample": sample,
                "x": floats(self.data.P_train[sample]),
                "batch_size": self.batches.size,
                "batch_loss": number(batch_loss),
                "lr": self.optimizer.lr,
                "optimizer": self.settings.optimizer,
                "l1": self.settings.l1,
                "l2": self.settings.l2,
                "passes": passes,
                "update": update,
                "frame": self._frame(),
            }

    def _penalty_gradients(self) -> list[Array]:
        """∂R/∂W = λ₁ sign(W) + λ₂ W of every level (`Optimizer.penalty_gradient`, the very numbers
        the optimiser adds to ∂L/∂W), at the current weights."""
        flat = self.optimizer.penalty_gradient()
        net = self.network
        names = [f"layers.{net.layers.index(lv.dense)}.W" for lv in net.levels]
        offset, parts = 0, {}
        for name, p in zip(net.parameter_names, net.parameters(), strict=True):
            parts[name] = flat[offset : offset + p.size].reshape(p.shape)
            offset += p.size
        return [parts[name] for name in names]

    # ------------------------------------------------------------------------------ explain
    def weight(self, level: int, i: int, j: int, sample: int) -> dict[str, Any]:
        """`chainrule.explain` of W^(level)[i, j] on training example ``sample``."""
        with self.lock:
            self._layer(level)
            e = explain(self.network, self.X_train, self.y_train, level=level, weight=(i, j), sample=sample)
            return plain_rules({**e.to_dict(), "text": e.render(), "step": self.steps})

    def _layer(self, level: int) -> None:
        """A layer of this network (1 = the first hidden layer, the last = the output layer)."""
        n = len(self.network.levels)
        if not 1 <= level <= n:
            raise ValueError(f"layer must be 1..{n} (this network's hidden and output layers), got {level}")

    def neuron(self, level: int, j: int, sample: int) -> dict[str, Any]:
        """z, a, σ'(z), ∂C/∂a and δ of neuron j of layer ``level`` for one example: the first
        link of `explain`'s chain (with the terms w_jk δ_k that built its δ)."""
        with self.lock:
            self._layer(level)
            e = explain(self.network, self.X_train, self.y_train, level=level, weight=(0, j), sample=sample)
            b = float(self.network.levels[level - 1].b[j])
            return plain_rules(
                {
                    **asdict(e.chain[0][0]),
                    "b": b,
                    "x": floats(self.data.P_train[sample]),
                    "step": self.steps,
                }
            )

    def close(self) -> None:
        """Stop training and end the session's event stream."""
        self.running = False
        self.watcher += 1

    # ------------------------------------------------------------------------------ export
    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild this network and its data outside the playground."""
        with self.lock:
            net = self.network
            return {
                "settings": self.settings.model_dump(),
                "step": self.steps,
                "config": net.config(),
                "params": floats(net.flat_params),
                "metadata": net.metadata,
                "X_train": floats(self.X_train),
                "y_train": floats(self.y_train),
                "X_test": floats(self.X_test),
                "y_test": floats(self.y_test),
            }

    def model_file(self) -> bytes:
        """The network as a chainrule model file (`chainrule.io.save`), metadata included."""
        with self.lock, tempfile.TemporaryDirectory() as folder:
            return save(self.network, Path(folder) / "model.safetensors").read_bytes()


class Sessions:
    """The sessions of a server, one per tab: at most ``limit``; idle ones expire, and when the
    limit is reached the longest-idle session makes room (its tab restarts on its next request),
    so no tab is ever refused."""

    def __init__(self, limit: int = 32, idle_seconds: float = 3600.0) -> None:
        self.limit, self.idle_seconds = limit, idle_seconds
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def add(self, session: Session) -> str:
        with self._lock:
            now = time.monotonic()
            for key in [k for k, s in self._sessions.items() if now - s.used > self.idle_seconds]:
                self._sessions.pop(key).close()
            while len(self._sessions) >= self.limit:
                oldest = min(self._sessions, key=lambda k: self._sessions[k].used)
                self._sessions.pop(oldest).close()
            key = secrets.token_urlsafe(16)
            self._sessions[key] = session
            return key

    def get(self, key: str) -> Session:
        with self._lock:
            session = self._sessions.get(key)
        if session is None:
            raise KeyError(key)
        session.used = time.monotonic()
        return session

    def remove(self, key: str) -> None:
        with self._lock:
            session = self._sessions.pop(key, None)
        if session is not None:
            session.close()

    def __len__(self) -> int:
        return len(self._sessions)
