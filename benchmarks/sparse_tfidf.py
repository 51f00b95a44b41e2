"""scikit-learn's MLP and chainrule.sklearn on sparse X of a TF-IDF size (docs/sklearn.md):

    .venv/bin/python -m benchmarks.sparse_tfidf [rounds]

20,000 x 50,000 CSR at 0.1 % density (float64, 10 classes), hidden (100,), adam, batch 200,
3 epochs (tol=0); one BLAS thread, CPU time, the best of the rounds; accuracy on 4,000 held-out rows.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import scipy.sparse
from sklearn.neural_network import MLPClassifier as SkMLP
from threadpoolctl import threadpool_limits

from chainrule.sklearn import MLPClassifier


def main(rounds: int = 2) -> None:
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    d, k = 50_000, 10
    X = scipy.sparse.random(20_000, d, density=0.001, format="csr", random_state=0)
    X_test = scipy.sparse.random(4_000, d, density=0.001, format="csr", random_state=1)
    W = rng.normal(size=(d, k))
    y, y_test = np.asarray(X @ W).argmax(axis=1), np.asarray(X_test @ W).argmax(axis=1)
    kw = dict(hidden_layer_sizes=(100,), batch_size=200, max_iter=3, tol=0, random_state=0)
    makers = {
        "scikit-learn": lambda: SkMLP(**kw),
        "chainrule float32": lambda: MLPClassifier(**kw),
        "chainrule float64": lambda: MLPClassifier(dtype="float64", **kw),
    }
    times: dict[str, list[float]] = {name: [] for name in makers}
    scores: dict[str, float] = {}
    with threadpool_limits(1):
        for _ in range(rounds):
            for name, make in makers.items():
                est = make()
                start = time.process_time()
                est.fit(X, y)
                times[name].append(time.process_time() - start)
                scores[name] = est.score(X_test, y_test)
    for name in makers:
        print(f"| {name} | {min(times[name]):.2f} s | {scores[name]:.3f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
