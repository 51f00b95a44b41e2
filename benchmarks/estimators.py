"""chainrule.sklearn.MLPClassifier against sklearn.neural_network.MLPClassifier, same settings.

    .venv/bin/python benchmarks/estimators.py [--rows 10000] [--epochs 10] [--repeats 5] [--threads N]

Fashion-MNIST-shaped data (784 pixels in [0, 1], 10 classes: noisy copies of 10 random
prototypes), the same parameters for both (hidden_layer_sizes=(100,), batch_size=200, the same
max_iter, tol=0 so that both run every epoch), for solver adam and sgd. Each fit is timed
``--repeats`` times, the two libraries taking turns so that a change in the machine's load hits
both; the script prints the medians and the ratio scikit-learn / chainrule. scikit-learn is timed
on the float64 array a user has (it then computes in float64) and on a float32 copy (it then
computes in float32); chainrule computes in float32, its default, in both cases. ``--threads``
limits the BLAS threads of both (threadpoolctl); on a shared machine 1 gives steadier numbers.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from threadpoolctl import threadpool_info, threadpool_limits

from chainrule.sklearn import MLPClassifier


def fashion_shaped(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 1, (10, 784))
    y = rng.integers(0, 10, rows)
    X = np.clip(prototypes[y] + rng.normal(0, 0.5, (rows, 784)), 0, 1)
    return X, y


def timed_fit(estimator, X, y) -> tuple[float, float]:
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start, estimator.loss_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: as installed)")
    args = parser.parse_args()
    with threadpool_limits(args.threads):
        run(args)


def run(args: argparse.Namespace) -> None:
    X, y = fashion_shaped(args.rows)
    X32 = X.astype(np.float32)
    print(
        f"{args.rows} rows x 784 features, 10 classes, hidden (100,), batch 200, {args.epochs} epochs, "
        f"median of {args.repeats}, BLAS threads {[i['num_threads'] for i in threadpool_info()]}"
    )
    warnings.simplefilter("ignore", ConvergenceWarning)
    for solver in ("adam", "sgd"):
        settings = dict(
            hidden_layer_sizes=(100,),
            solver=solver,
            batch_size=200,
            max_iter=args.epochs,
            tol=0.0,
            n_iter_no_change=args.epochs,
            learning_rate_init=0.001 if solver == "adam" else 0.01,
            random_state=0,
        )
        runs: dict[str, list[float]] = {"chainrule": [], "sklearn float64": [], "sklearn float32": []}
        losses: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, est, data in (
                ("chainrule", MLPClassifier(**settings), X),
                ("sklearn float64", SkMLPClassifier(**settings), X),
                ("sklearn float32", SkMLPClassifier(**settings), X32),
            ):
                seconds, losses[name] = timed_fit(est, data, y)
                runs[name].append(seconds)
        ours = statistics.median(runs["chainrule"])
        for name, times in runs.items():
            median = statistics.median(times)
            ratio = "" if name == "chainrule" else f"  chainrule is {median / ours:.2f}x faster"
            print(f"{solver:5s} {name:16s} {median:7.3f} s  (final loss {losses[name]:.4f}){ratio}")


if __name__ == "__main__":
    main()
