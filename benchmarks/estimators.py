"""chainrule.sklearn.MLPClassifier against sklearn.neural_network.MLPClassifier, same settings.

The runner's ``estimators`` section (``python -m benchmarks --sections estimators``), or alone:

    python -m benchmarks.estimators [--rows 10000] [--epochs 10] [--repeats 5] [--threads N]

Fashion-MNIST-shaped data (784 pixels in [0, 1], 10 classes: noisy copies of 10 random
prototypes), the same parameters for both (hidden_layer_sizes=(100,), batch_size=200, the same
max_iter, tol=0 so that both run every epoch), for solver adam and sgd (scikit-learn's defaults:
Nesterov momentum 0.9, L2 α = 1e-4). scikit-learn is timed on the float64 array a user has (it
then computes in float64) and on a float32 copy (it then computes in float32); chainrule computes
in float32, its default, in both cases. The fits take turns (`timing.interleaved`) and each ratio
is the median of the ratios within a round.

The ceiling: the same epochs of nothing but what no float32 fit of this network can skip (per
batch, gathering its rows and the first layer's two matrix products, z = x Wᵀ and ∂L/∂W = δᵀ x,
which hold 98 % of the step's FLOPs). scikit-learn's time over that floor's bounds how many times
faster than scikit-learn any implementation on this BLAS can be.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.timing import interleaved, median, speedups

HIDDEN, BATCH, FEATURES, CLASSES = 100, 200, 784, 10
LEARNING_RATES = {"adam": 1e-3, "sgd": 0.01}
OTHERS = ("sklearn float64", "sklearn float32")


def fashion_shaped(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float64 rows of 784 'pixels' in [0, 1] and labels 0..9: noisy copies of 10 prototypes."""
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 1, (CLASSES, FEATURES))
    y = rng.integers(0, CLASSES, rows)
    X = np.clip(prototypes[y] + rng.normal(0, 0.5, (rows, FEATURES)), 0, 1)
    return X, y


def settings(solver: str, epochs: int) -> dict[str, Any]:
    """The same constructor parameters for both libraries."""
    return dict(
        hidden_layer_sizes=(HIDDEN,),
        solver=solver,
        batch_size=BATCH,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs,
        learning_rate_init=LEARNING_RATES[solver],
        random_state=0,
    )


def floor(X32: np.ndarray, epochs: int) -> Callable[[], None]:
    """The unavoidable part of ``epochs`` epochs on float32 rows: per batch of a fresh permutation,
    the rows gathered, z = x Wᵀ and ∂L/∂W = δᵀ x of the first layer (2 · B · 784 · 100 FLOPs each)."""
    rng = np.random.default_rng(0)
    n, size = len(X32), min(BATCH, len(X32))
    W = rng.standard_normal((HIDDEN, X32.shape[1]), dtype=np.float32)
    delta = rng.standard_normal((size, HIDDEN), dtype=np.float32)
    x = np.empty((size, X32.shape[1]), np.float32)
    z, dW = np.empty((size, HIDDEN), np.float32), np.empty_like(W)
    order = np.arange(n)

    def run() -> None:
        for _ in range(epochs):
            rng.shuffle(order)
            for start in range(0, n, size):
                rows = order[start : start + size]
                m = len(rows)
                np.take(X32, rows, axis=0, out=x[:m])
                np.matmul(x[:m], W.T, out=z[:m])
                np.matmul(delta[:m].T, x[:m], out=dW)

    return run


def _fit(
    fitted: dict[str, Any], name: str, estimator: Any, X: np.ndarray, y: np.ndarray
) -> Callable[[], None]:
    """A run that fits a fresh clone of ``estimator`` and keeps it in ``fitted[name]``."""
    from sklearn.base import clone

    def run() -> None:
        fitted[name] = clone(estimator).fit(X, y)

    return run


def compare(rows: int, epochs: int, repeats: int, clock: str = "wall") -> list[dict[str, Any]]:
    """One row per solver: the seconds of each fit, chainrule's speed-up over each scikit-learn
    fit, the ceiling on that speed-up (scikit-learn float64 / the floor), and the final losses."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    from chainrule.sklearn import MLPClassifier

    X, y = fashion_shaped(rows)
    X32 = X.astype(np.float32)
    out = []
    for solver in ("adam", "sgd"):
        fitted: dict[str, Any] = {}
        kwargs = settings(solver, epochs)
        runs = {
            "chainrule": _fit(fitted, "chainrule", MLPClassifier(**kwargs), X, y),
            "sklearn float64": _fit(fitted, "sklearn float64", SkMLPClassifier(**kwargs), X, y),
            "sklearn float32": _fit(fitted, "sklearn float32", SkMLPClassifier(**kwargs), X32, y),
            "floor": floor(X32, epochs),
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            times = interleaved(runs, repeats, warmup=1, clock=clock)
        ratio, vs_floor = speedups(times), speedups(times, of="floor")
        out.append(
            {
                "solver": solver,
                "rows": rows,
                "epochs": epochs,
                "seconds": {name: median(t) for name, t in times.items()},
                "times_s": times,
                "ratio": {name: ratio[name] for name in OTHERS},
                "ceiling": vs_floor["sklearn float64"],
                "of_floor": vs_floor["chainrule"],  # chainrule's time over the floor's
                "final_loss": {name: float(est.loss_) for name, est in fitted.items()},
            }
        )
    return out


def print_rows(rows: list[dict[str, Any]]) -> None:
    first = rows[0]
    print(
        f"\nscikit-learn estimators ({first['rows']} rows x {FEATURES}, hidden ({HIDDEN},), batch {BATCH}, "
        f"{first['epochs']} epochs; ratios: how many times faster chainrule.sklearn is)"
    )
    others = "".join(f"{n:>17}{'ratio':>7}" for n in OTHERS)
    print(f"{'solver':<8}{'chainrule':>10}{others}{'ceiling':>9}")
    for r in rows:
        s = r["seconds"]
        others = "".join(f"{s[n]:>16.3f}s{r['ratio'][n]:>7.2f}" for n in OTHERS)
        print(f"{r['solver']:<8}{s['chainrule']:>9.3f}s{others}{r['ceiling']:>9.2f}")
    print(
        "# ceiling: scikit-learn float64's time over the floor's (gathering each batch and the first "
        "layer's two products, nothing else); chainrule takes "
        + ", ".join(f"{r['of_floor']:.2f}" for r in rows)
        + " of the floor's time"
    )


def main(argv: list[str] | None = None) -> None:
    description = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.estimators", description=description)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: as installed)")
    args = parser.parse_args(argv)
    with threadpool_limits(args.threads):  # None: as installed
        print_rows(compare(args.rows, args.epochs, args.repeats))


if __name__ == "__main__":
    main()
