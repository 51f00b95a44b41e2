"""How fast the playground trains and answers, against `chainrule.fit` on the same network and data.

    .venv/bin/python benchmarks/playground.py

Prints the median of several repeats: training steps per second in a session (the loop behind
the event stream) and in `fit` (the anchor, measured in the same run), and the milliseconds of
one frame (losses, weights, every neuron's heat map), one Step (the example's passes, a training
step, a frame) and one weight's explanation (`chainrule.explain`).
"""

from __future__ import annotations

import statistics
import time

import chainrule as cr
from chainrule.playground.session import Session
from chainrule.playground.settings import Settings

REPEATS = 5
SETTINGS = Settings(hidden=[8, 8], activation=["tanh", "tanh"], batch_size=10)  # xor, 200 training rows


def median_time(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    session = Session(SETTINGS)
    X, y = session.X_train, session.y_train
    steps_per_epoch = -(-len(X) // SETTINGS.batch_size)

    def session_rate() -> float:
        session.set_running(True)
        before = session.steps
        start = time.perf_counter()
        session.train_for(0.5)
        return (session.steps - before) / (time.perf_counter() - start)

    def fit_rate() -> float:
        net = cr.Network.from_sizes([2, 8, 8, 2], activation="tanh", seed=0)
        epochs = 40
        start = time.perf_counter()
        cr.fit(net, X, y, epochs=epochs, batch_size=SETTINGS.batch_size, optimizer="sgd", lr=0.03)
        return epochs * steps_per_epoch / (time.perf_counter() - start)

    rates = [(session_rate(), fit_rate()) for _ in range(REPEATS)]
    playground = statistics.median(r[0] for r in rates)
    anchor = statistics.median(r[1] for r in rates)
    session.set_running(False)
    frame = median_time(session.frame, 20)
    step = median_time(lambda: session.step(3), 20)
    weight = median_time(lambda: session.weight(2, 1, 1, 3), 20)
    ratio = playground / anchor
    print(f"training steps/s: playground {playground:.0f}, fit (anchor) {anchor:.0f}, ratio {ratio:.2f}")
    ms = {"one frame": frame, "one Step": step, "one weight's explanation": weight}
    print(", ".join(f"{name} {1e3 * t:.2f} ms" for name, t in ms.items()))


if __name__ == "__main__":
    main()
