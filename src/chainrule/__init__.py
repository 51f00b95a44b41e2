"""chainrule: feed-forward neural networks trained by explicit, layer-wise backpropagation.

    net = chainrule.Network.from_sizes([64, 128, 10], activation="relu", seed=0)
    history = chainrule.fit(net, X, y, epochs=20, batch_size=32, optimizer="adam", lr=1e-3)
    net.predict(X_test)

The modules follow the lecture notes: `layers` (z = a_prev W + b, a = σ(z)), `losses` (C and
δ^(O)), `network` (forward pass, backward pass), `optimizers` (θ ← θ − η∇L), `gradcheck`, `explain`
(the chain rule of one weight, with the numbers); ``chainrule.show(net, X, y)`` draws a network in a
notebook (the ``widget`` extra).
"""

from chainrule.activations import Activation, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from chainrule.checkpoint import CheckpointError, load_checkpoint
from chainrule.explain import Explanation, explain
from chainrule.gradcheck import GradcheckResult, gradcheck
from chainrule.io import ModelFileError, load, save
from chainrule.layers import Dense, Dropout, Layer
from chainrule.losses import BinaryCrossEntropy, CrossEntropy, Loss, SquaredError
from chainrule.network import Network
from chainrule.optimizers import SGD, Adam, Optimizer
from chainrule.pipeline import Experiment, Pipeline, Result
from chainrule.run import DivergenceError, TrainingInterrupted
from chainrule.schedules import Constant, CosineDecay, ExponentialDecay, InverseScaling, Schedule, StepDecay
from chainrule.stopping import Plateau
from chainrule.training import Callback, EarlyStopping, History, fit
from chainrule.world import Local, MPIWorld, World

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``show`` and ``NetworkView`` (chainrule.widget, the network view in Jupyter) are imported
    when first asked for: they need anywidget, an optional extra (pip install 'chainrule[widget]')."""
    if name in ("show", "NetworkView"):
        from chainrule.widget import NetworkView, show

        return {"show": show, "NetworkView": NetworkView}[name]
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


__all__ = [
    "SGD",
    "Activation",
    "Adam",
    "BinaryCrossEntropy",
    "Callback",
    "CheckpointError",
    "Constant",
    "CosineDecay",
    "CrossEntropy",
    "Dense",
    "DivergenceError",
    "Dropout",
    "EarlyStopping",
    "Experiment",
    "Explanation",
    "ExponentialDecay",
    "GradcheckResult",
    "History",
    "Identity",
    "InverseScaling",
    "Layer",
    "LeakyReLU",
    "Local",
    "Loss",
    "MPIWorld",
    "ModelFileError",
    "Network",
    "Optimizer",
    "Pipeline",
    "Plateau",
    "ReLU",
    "Result",
    "Schedule",
    "Sigmoid",
    "Softmax",
    "SquaredError",
    "StepDecay",
    "Tanh",
    "TrainingInterrupted",
    "World",
    "explain",
    "fit",
    "gradcheck",
    "load",
    "load_checkpoint",
    "save",
]
