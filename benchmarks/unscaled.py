"""scikit-learn's MLP and chainrule.sklearn on raw (unscaled) digits and diabetes (docs/sklearn.md):

    .venv/bin/python -m benchmarks.unscaled

Default parameters (for diabetes also η₀ = 0.01 and 2000 epochs), 5 seeds (the split and
random_state): mean ± std of the test score (accuracy, R²) and the mean fit time (CPU);
chainrule with its default init="glorot" and with init="he".
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
from sklearn.datasets import load_diabetes, load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor

from chainrule.sklearn import MLPClassifier, MLPRegressor


def row(data: str, label: str, make: Any, X: np.ndarray, y: np.ndarray) -> str:
    scores, times = [], []
    for seed in range(5):
        X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=seed)
        est = make(seed)
        start = time.process_time()
        est.fit(X_train, y_train)
        times.append(time.process_time() - start)
        scores.append(est.score(X_test, y_test))
    return f"| {data} | {label} | {np.mean(scores):.3f} ± {np.std(scores):.3f} | {np.mean(times):.2f} s |"


def main() -> None:
    warnings.simplefilter("ignore")
    longer = {"learning_rate_init": 0.01, "max_iter": 2000}
    for data, load, sk, ours, kw in [
        ("digits", load_digits, SkClassifier, MLPClassifier, {}),
        ("diabetes", load_diabetes, SkRegressor, MLPRegressor, {}),
        ("diabetes, η₀ = 0.01, max_iter=2000", load_diabetes, SkRegressor, MLPRegressor, longer),
    ]:
        X, y = load(return_X_y=True)
        print(row(data, "scikit-learn", lambda s, sk=sk, kw=kw: sk(random_state=s, **kw), X, y), flush=True)
        print(
            row(data, "chainrule", lambda s, ours=ours, kw=kw: ours(random_state=s, **kw), X, y), flush=True
        )
        he = lambda s, ours=ours, kw=kw: ours(random_state=s, init="he", **kw)  # noqa: E731
        print(row(data, "chainrule, init='he'", he, X, y), flush=True)


if __name__ == "__main__":
    main()
