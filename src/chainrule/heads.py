"""The output of a network for its task: which loss C, which output activation σ^(O), how many
outputs. Every face (the pipeline of the command line, the estimators, the playground) asks here.

    regression (numeric targets)      squared error, identity outputs, one per target; or, asked
                                      for, Poisson (half deviance) on exp outputs (the log link)
    K ≥ 2 classes                     cross entropy over K softmax outputs (the seeds' choice),
                                      or, for K = 2, binary cross entropy on one sigmoid output
    labels that may each be on or off binary cross entropy, one sigmoid output per label
"""

from __future__ import annotations

from dataclasses import dataclass

LOSSES = ("cross_entropy", "binary_cross_entropy", "squared_error", "poisson")
REGRESSION = ("squared_error", "poisson")
OUTPUT = {
    "cross_entropy": "softmax",
    "binary_cross_entropy": "sigmoid",
    "squared_error": "identity",
    "poisson": "exp",
}


@dataclass(frozen=True)
class Head:
    """The loss, the output activation and the number of outputs of a network."""

    loss: str
    output: str
    n_outputs: int


def head(
    classes: int | None,
    loss: str | None = None,
    *,
    targets: int = 1,
    multilabel: bool = False,
    name: str = "the data",
) -> Head:
    """The head for ``classes`` classes (None: regression with ``targets`` numeric targets; with
    ``multilabel``, ``classes`` labels that may each be on or off). ``loss`` is the one asked for
    (None: the default of the task); a loss that does not fit the task is refused, the message
    naming ``name``."""
    if loss is not None and loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: use one of {', '.join(LOSSES)}")
    if classes is None:
        if loss not in (None, *REGRESSION):
            raise ValueError(
                f"{name} has numeric targets (regression): use loss=squared_error or poisson, not {loss}"
            )
        loss = loss or "squared_error"
        return Head(loss, OUTPUT[loss], targets)
    if loss in REGRESSION:
        raise ValueError(
            f"{name} has class labels: use loss=cross_entropy (or binary_cross_entropy for two classes), "
            "or task=regression for numeric targets"
        )
    if multilabel:
        if loss == "cross_entropy":
            raise ValueError(f"{name} has several labels per row: use loss=binary_cross_entropy")
        return Head("binary_cross_entropy", OUTPUT["binary_cross_entropy"], classes)
    if classes < 2:
        raise ValueError(f"{name} has a single class: a classifier needs at least two")
    if loss == "binary_cross_entropy":
        if classes != 2:
            raise ValueError(
                f"binary_cross_entropy needs two classes, {name} has {classes}: use loss=cross_entropy"
            )
        return Head(loss, OUTPUT[loss], 1)
    return Head("cross_entropy", OUTPUT["cross_entropy"], classes)
