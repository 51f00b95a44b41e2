"""chainrule's benchmarks: ``python -m benchmarks --help``, from the root of a source checkout
(they are not part of the installed package).

Modules: `workloads` (networks, data, FLOP counts), `numpy_loop` (the hand-written floor),
`anchors` (chainrule, NumPy, PyTorch, scikit-learn behind one interface), `timing`, `roofline`
(sgemm peak), `memory` (peak RSS in a subprocess), `fashion` (time to accuracy), `scaling`
(cost against batch, width, depth), `estimators` (chainrule.sklearn against scikit-learn's
MLPClassifier), `runner` (the command line and the report).
"""

from benchmarks.runner import main

__all__ = ["main"]
