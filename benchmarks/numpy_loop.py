"""The floor: a hand-written NumPy training loop of the same math as chainrule, with no library
around it — the code an expert would write for one fixed network.

Per batch of m rows (layers l = 1..L, a⁰ = x, σ = ReLU or sigmoid on hidden layers):

    forward    z^l = a^(l-1) W^l + b^l,   a^l = σ(z^l)  (in place: z^l is overwritten by a^l)
    output     p = softmax(z^L),  L = mean_n (log Σ_j e^(z_nj) − z_n,y_n)     (fused softmax-CE)
    backward   δ^L = (p − onehot(y)) / m
               ∂L/∂W^l = a^(l-1)ᵀ δ^l,  ∂L/∂b^l = Σ_n δ^l,  δ^(l-1) = δ^l W^lᵀ ⊙ σ'(z^(l-1))
    step       SGD: θ ← θ − η g;   Adam: as `chainrule.optimizers.Adam`

Every buffer is made once; parameters and gradients live in one flat array each, so the
optimiser is a handful of vectorised operations. Batches are gathered with the same shuffling
as `chainrule.fit` (``rng.shuffle`` of ``arange(n)``), so with the same generator state both
see the same batches and must end with the same weights.
"""

from __future__ import annotations

import math

import numpy as np


class NumpyLoop:
    """Trains one fixed MLP (hidden activation ``relu`` or ``sigmoid``, softmax-CE output)."""

    def __init__(
        self,
        params: list[tuple[np.ndarray, np.ndarray]],
        activation: str,
        optimizer: str,
        lr: float,
        batch_size: int,
        rng: np.random.Generator,
    ) -> None:
        if activation not in ("relu", "sigmoid") or optimizer not in ("sgd", "adam"):
            raise ValueError(f"the numpy loop knows relu/sigmoid and sgd/adam, not {activation}/{optimizer}")
        self.activation, self.optimizer, self.lr, self.rng = activation, optimizer, lr, rng
        self.batch_size = batch_size
        sizes = [params[0][0].shape[0]] + [W.shape[1] for W, _ in params]
        n_total = sum(W.size + b.size for W, b in params)
        self.theta = np.empty(n_total, np.float32)  # all W and b, one after the other
        self.grad = np.zeros(n_total, np.float32)
        self.W, self.b, self.dW, self.db = [], [], [], []
        offset = 0
        for W0, b0 in params:
            for value, ps, gs in ((W0, self.W, self.dW), (b0, self.b, self.db)):
                ps.append(self.theta[offset : offset + value.size].reshape(value.shape))
                ps[-1][...] = value
                gs.append(self.grad[offset : offset + value.size].reshape(value.shape))
                offset += value.size
        m = batch_size
        self.A = [np.empty((m, n), np.float32) for n in sizes[1:]]  # z^l, then a^l in place
        self.D = [np.empty((m, n), np.float32) for n in sizes[1:]]  # δ^l
        self.mask = [np.empty((m, n), bool) for n in sizes[1:-1]]
        self.zeros = [np.zeros(n, np.float32) for n in sizes[1:-1]]  # max(z, 0) is 2× faster on a row
        self.ones = np.ones(m, np.float32)  # Σ_n δ = 1ᵀ δ, a BLAS product
        self.tmp = np.empty(n_total, np.float32)
        self.rowmax = np.empty(m, np.float32)
        self.zT = np.empty(m * sizes[-1], np.float32)
        self.ones_k = np.ones(sizes[-1], np.float32)
        self.rowsum = np.empty(m, np.float32)
        self.row_start = np.arange(m) * sizes[-1]
        self.flat_idx = np.empty(m, np.intp)
        self.m1, self.m2, self.t = np.zeros_like(self.theta), np.zeros_like(self.theta), 0
        self.xb = np.empty((m, sizes[0]), np.float32)
        self.yb = np.empty(m, np.intp)

    # ------------------------------------------------------------------ one step
    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward, fused softmax-CE, backward, update; returns the batch's mean loss."""
        m, L = len(x), len(self.W)
        a = x
        for i in range(L):
            z = self.A[i][:m]
            np.matmul(a, self.W[i], out=z)
            z += self.b[i]
            if i < L - 1:
                if self.activation == "relu":
                    np.maximum(z, self.zeros[i], out=z)
                else:  # σ(z) = ½ (1 + tanh(z/2))
                    z *= 0.5
                    np.tanh(z, out=z)
                    z *= 0.5
                    z += 0.5
            a = z
        # softmax-CE on the logits z: p = e^(z − max) / Σ e^(z − max), L from log-sum-exp
        z, mx, s = a, self.rowmax[:m], self.rowsum[:m]
        idx = np.add(self.row_start[:m], y, out=self.flat_idx[:m])  # flat index of z_n,y_n
        zT = self.zT[: m * len(self.ones_k)].reshape(-1, m)
        np.copyto(zT, z.T)  # the row max, taken down the rows of zᵀ: numpy reduces short rows slowly
        zT.max(axis=0, out=mx)
        z_true = float(z.ravel()[idx].sum())
        d = self.D[L - 1][:m]
        np.subtract(z, mx[:, None], out=d)
        np.exp(d, out=d)
        np.matmul(d, self.ones_k, out=s)  # Σ_j, as a BLAS product
        d /= s[:, None]
        loss = (float(np.log(s, out=s).sum()) + float(mx.sum()) - z_true) / m
        d.ravel()[idx] -= 1.0
        d *= 1.0 / m  # δ^L = (p − onehot(y)) / m
        # backward
        for i in range(L - 1, -1, -1):
            a_prev = x if i == 0 else self.A[i - 1][:m]
            np.matmul(a_prev.T, d, out=self.dW[i])
            np.matmul(self.ones[:m], d, out=self.db[i])
            if i == 0:
                break
            d_prev = self.D[i - 1][:m]
            np.matmul(d, self.W[i].T, out=d_prev)
            if self.activation == "relu":  # σ'(z) = [z > 0] = [a > 0]
                mask = np.greater(a_prev, 0, out=self.mask[i - 1][:m])
                np.multiply(d_prev, mask, out=d_prev)
            else:  # σ'(z) = a (1 − a)
                d_prev *= a_prev
                one_minus_a = np.subtract(1, a_prev, out=a_prev)  # a^(l-1) is no longer needed
                d_prev *= one_minus_a
            d = d_prev
        self._update()
        return loss

    def _update(self) -> None:
        g, tmp = self.grad, self.tmp
        if self.optimizer == "sgd":
            np.multiply(g, self.lr, out=tmp)
            self.theta -= tmp  # θ ← θ − η g
            return
        b1, b2 = 0.9, 0.999
        self.t += 1
        self.m1 *= b1
        self.m1 += g  # m1 = m / (1 − β₁): m1 ← β₁ m1 + g
        np.multiply(g, g, out=tmp)
        self.m2 *= b2
        self.m2 += tmp  # m2 = v / (1 − β₂): m2 ← β₂ m2 + g²
        s, c = math.sqrt(1 - b2), math.sqrt(1 - b2**self.t)
        np.sqrt(self.m2, out=tmp)
        tmp += 1e-8 * c / s
        np.divide(self.m1, tmp, out=tmp)
        tmp *= self.lr * (1 - b1) * c / ((1 - b1**self.t) * s)
        self.theta -= tmp  # θ ← θ − η m̂ / (√v̂ + ε), written with m1 and m2 (as chainrule's Adam)

    # ------------------------------------------------------------------ epochs and inference
    def fit(self, X: np.ndarray, y: np.ndarray, epochs: int = 1, shuffle: bool = True) -> float:
        """``epochs`` passes over batches (shuffled: gathered with ``take`` from a permutation that
        ``rng.shuffle`` reshuffles each epoch, as `chainrule.fit` does); returns the last epoch's
        mean training loss."""
        n = len(X)
        bs = min(self.batch_size, n)
        gather = shuffle and bs < n
        order = np.arange(n)
        loss = 0.0
        for _ in range(epochs):
            if gather:
                self.rng.shuffle(order)
            total = 0.0
            for start in range(0, n, bs):
                if gather:
                    rows = order[start : start + bs]
                    xb = X.take(rows, axis=0, out=self.xb[: len(rows)], mode="clip")
                    yb = y.take(rows, out=self.yb[: len(rows)], mode="clip")
                else:
                    xb, yb = X[start : start + bs], y[start : start + bs]
                total += self.step(xb, yb) * len(xb)
            loss = total / n
        return loss

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Softmax outputs, the whole of X in one pass."""
        a = X
        for i in range(len(self.W)):
            a = a @ self.W[i]
            a += self.b[i]
            if i < len(self.W) - 1:
                if self.activation == "relu":
                    np.maximum(a, self.zeros[i], out=a)
                else:
                    a *= 0.5
                    np.tanh(a, out=a)
                    a *= 0.5
                    a += 0.5
        a -= a.max(axis=1, keepdims=True)
        np.exp(a, out=a)
        a /= a.sum(axis=1, keepdims=True)
        return a

    def params(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Copies of (W, b) of every layer."""
        return [(W.copy(), b.copy()) for W, b in zip(self.W, self.b, strict=True)]
