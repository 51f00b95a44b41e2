"""Write the course notebooks from the cells below (run: python notebooks/make_notebooks.py).

The notebooks are stored without outputs: the test suite (tests/test_notebooks.py) and the
documentation site (mkdocs-jupyter, execute: true) run them, so their outputs cannot go stale and
their diffs stay readable."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
SETUP = "import numpy as np\nimport matplotlib.pyplot as plt\nimport chainrule as cr"

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}

NOTEBOOKS["01_notes_network"] = [
    (
        "md",
        """# The notes' 2-2-2 network, with numbers

The figure of seeds 000 and 001: two inputs, two sigmoid neurons, two sigmoid outputs, squared
error C = ½ Σ_k (a_k − y_k)², one example x = (1, −1) with target y = (1, 0). Notation as in
[backprop.md](../backprop.md): y is the target, a^(O) the output, chainrule's `W[i, j]` = w_ij from
neuron i below to neuron j (the notes' W transposed).""",
    ),
    (
        "code",
        SETUP
        + """
from chainrule.explain import notes_example

net, x, y = notes_example()
hidden, output = net.levels
print("W^(1) (w_ij from x_i to neuron j):\\n", hidden.W, "\\nb^(1):", hidden.b)
print("W^(2):\\n", output.W, "\\nb^(2):", output.b)""",
    ),
    ("md", "## Forward pass: z = Σ_i w_ij a_i + b_j, a = σ(z), and ∂z/∂w = a"),
    (
        "code",
        """a_out = net.forward(x)
for level in net.levels:
    print(f"layer {level.index}: z = {level.z[0]}, a = σ(z) = {level.a[0]}, σ'(z) = {level.sigma_prime()[0]}")
C, grads = net.loss_and_grad(x, y)
print(f"C = ½ Σ (a − y)² = {C:.6f}")""",
    ),
    (
        "md",
        """## Backward pass, output layer first (the reversed network of seed 004)

δ^(2) = (a − y) ⊙ σ'(z^(2)); then δ^(1)_j = σ'(z_j) · Σ_k w_jk δ^(2)_k (case 2, then case 1).""",
    ),
    (
        "code",
        """d2 = (output.a[0] - y[0]) * output.sigma_prime()[0]
print("layer 2: δ = (a − y) σ'(z) =", d2, " backprop:", output.delta[0])
for j in range(2):
    terms = [output.W[j, k] * output.delta[0, k] for k in range(2)]
    print(f"layer 1, neuron {j + 1}: Σ_k w_jk δ_k = {sum(terms):.6g},  δ = σ'(z) · Σ = {hidden.delta[0, j]:.6g}")
print("\\n∂C/∂w = a · δ (forward value × backward value):")
for level in net.levels:
    for i in range(2):
        for j in range(2):
            print(f"  w_{i + 1},{j + 1}^({level.index}): a = {level.a_prev[0, i]:.6g}, δ = {level.delta[0, j]:.6g}, "
                  f"a·δ = {level.dW[i, j]:.6g}")""",
    ),
    ("md", "The same derivation, printed by `chainrule explain --example notes`:"),
    ("code", "print(cr.explain(net, x, y, level=1, weight=(0, 0)))"),
    (
        "md",
        """## The same network, drawn: `cr.show`

In Jupyter, `cr.show(net, x, y)` draws the network with the playground's drawing code: each neuron
a small map of its a over the input plane, each edge a weight (blue positive, orange negative, its
width |w|), and beside every neuron its a and δ for the example. Click a neuron for z, a, σ'(z) and
δ; click a weight for a, δ and ∂C/∂w = a · δ, with the chain of δ from the output layer back. (It
needs the `widget` extra, `pip install 'chainrule[widget]'`; a page without a kernel shows only the
line below.)""",
    ),
    ("code", "view = cr.show(net, x, y)\nview"),
    (
        "code",
        """# the numbers it draws are the library's: ∂C/∂w of w_1,1^(1) = a · δ, as explain printed it
print(view.passes[0]["a"][0], "×", view.passes[1]["delta"][0], "=", view.gradients[0]["dW"][0][0])""",
    ),
    ("md", "## Finite differences agree, and one gradient-descent step θ ← θ − η ∇L lowers C"),
    (
        "code",
        """eps = 1e-6
fd = np.empty(net.n_parameters)
theta = net.flat_params
for p in range(net.n_parameters):
    old = theta[p]
    theta[p] = old + eps; up = net.evaluate(x, y)["loss"]
    theta[p] = old - eps; down = net.evaluate(x, y)["loss"]
    theta[p] = old
    fd[p] = (up - down) / (2 * eps)
net.loss_and_grad(x, y)
backprop = net.flat_grads.copy()
print("largest difference:", np.abs(fd - backprop).max())
assert np.allclose(fd, backprop, atol=1e-8)

before = net.evaluate(x, y)["loss"]
cr.fit(net, x, y, epochs=1, batch_size=None, optimizer="sgd", lr=1.0)
print(f"C before {before:.6f}, after one step (η = 1) {net.evaluate(x, y)['loss']:.6f}")

names = [f"{n.split('.')[-1]}{k}" for n, p in zip(net.parameter_names, net.parameters()) for k in range(p.size)]
plt.figure(figsize=(7, 3))
plt.bar(np.arange(len(fd)) - 0.2, backprop, 0.4, label="backprop a·δ")
plt.bar(np.arange(len(fd)) + 0.2, fd, 0.4, label="finite difference")
plt.xticks(range(len(fd)), names, fontsize=7); plt.ylabel("∂C/∂θ"); plt.legend(); plt.tight_layout()""",
    ),
]

NOTEBOOKS["02_backprop_cost"] = [
    (
        "md",
        """# Why backprop: the cost of ∇L against the number of parameters

The notes: "a neural network has millions of parameters; to compute the gradient efficiently we
use backpropagation". Finite differences need 2 forward passes per parameter (2P in all);
backprop needs one forward and one backward pass, about the cost of two or three forward passes,
whatever P is. Below: up to P ≈ 1e5, finite differences measured for small P and extrapolated
(2P × one forward pass) beyond. To go to 1e6, add widths such as 700 to `WIDTHS` (backprop stays
under a second; the extrapolated line is what finite differences would take).""",
    ),
    (
        "code",
        SETUP
        + """
import time

WIDTHS = [4, 8, 16, 32, 64, 128, 220]
rng = np.random.default_rng(0)
X = rng.normal(size=(64, 20)); y = rng.integers(0, 10, 64)
rows = []
for w in WIDTHS:
    net = cr.Network.from_sizes([20, w, w, 10], "tanh", seed=0, dtype="float64")
    P = net.n_parameters
    t = time.perf_counter(); reps = 20
    for _ in range(reps):
        net.loss_and_grad(X, y)
    backprop = (time.perf_counter() - t) / reps
    t = time.perf_counter()
    for _ in range(reps):
        net.evaluate(X, y)
    forward = (time.perf_counter() - t) / reps
    measured = None
    if P <= 600:  # finite differences in full, 2 forward passes per parameter
        t = time.perf_counter()
        theta = net.flat_params
        for p in range(P):
            old = theta[p]
            theta[p] = old + 1e-6; net.evaluate(X, y)
            theta[p] = old - 1e-6; net.evaluate(X, y)
            theta[p] = old
        measured = time.perf_counter() - t
    rows.append((P, backprop, forward, 2 * P * forward, measured))
    print(f"P = {P:>7}: backprop {backprop * 1e3:7.3f} ms = {backprop / forward:4.1f} forward passes; "
          f"finite differences ≈ {2 * P * forward:9.3f} s" + (f" (measured {measured:.3f} s)" if measured else ""))""",
    ),
    (
        "code",
        """P = np.array([r[0] for r in rows])
plt.figure(figsize=(6, 4))
plt.loglog(P, [r[1] for r in rows], "o-", label="backprop (forward + backward)")
plt.loglog(P, [r[3] for r in rows], "s--", label="finite differences, 2P forward passes (extrapolated)")
small = [r for r in rows if r[4] is not None]
plt.loglog([r[0] for r in small], [r[4] for r in small], "k^", label="finite differences, measured")
plt.xlabel("number of parameters P"); plt.ylabel("seconds per gradient"); plt.legend(); plt.grid(alpha=0.3)""",
    ),
]

NOTEBOOKS["03_vanishing_gradients"] = [
    (
        "md",
        """# Vanishing gradients: σ'(z) ≤ 1/4

Every hidden layer multiplies δ by σ'(z) on the way down (δ^(l) = σ'(z^(l)) ⊙ (W^(l+1))ᵀ δ^(l+1)).
The sigmoid's derivative σ'(z) = σ(z)(1 − σ(z)) is at most 1/4, so through 10 sigmoid layers δ
can shrink by 4¹⁰ ≈ 10⁶; tanh' ≤ 1 and ReLU' ∈ {0, 1} lose much less.""",
    ),
    (
        "code",
        SETUP
        + """
from chainrule.toys import toy

z = np.linspace(-6, 6, 400)
s = 1 / (1 + np.exp(-z))
plt.figure(figsize=(6, 3))
plt.plot(z, s * (1 - s), label="sigmoid' ≤ 1/4"); plt.plot(z, 1 - np.tanh(z) ** 2, label="tanh' ≤ 1")
plt.plot(z, (z > 0).astype(float), label="ReLU' ∈ {0, 1}"); plt.axhline(0.25, color="gray", lw=0.5)
plt.xlabel("z"); plt.ylabel("σ'(z)"); plt.legend()""",
    ),
    (
        "code",
        """X, y = toy("moons", 200, noise=0.15, seed=0)
plt.figure(figsize=(6, 4))
for act in ["sigmoid", "tanh", "relu"]:
    net = cr.Network.from_sizes([2] + [16] * 10 + [2], act, seed=0)
    net.loss_and_grad(X, y)
    sizes = [np.abs(level.delta).mean() for level in net.levels]
    plt.semilogy(range(1, len(sizes) + 1), sizes, "o-", label=act)
plt.xlabel("layer l (1 = first, 11 = output)"); plt.ylabel("mean |δ^(l)|"); plt.legend()
plt.title("10 hidden layers: |δ| from the output back")""",
    ),
    (
        "md",
        """Drawn with `cr.show` (a network of 6 sigmoid layers, the largest depth it draws, after some
training): read the δ beside the neurons from the output back to layer 1, and the ×σ' amplifier,
at most 1/4, that shrinks it at every layer. Move the slider to another example; click a weight
for its ∂C/∂w = a · δ.""",
    ),
    (
        "code",
        """deep = cr.Network.from_sizes([2] + [8] * 6 + [2], "sigmoid", seed=0)
cr.fit(deep, X, y, epochs=20, batch_size=32, optimizer="adam", lr=0.01)
view = cr.show(deep, X, y, example=0)
print("mean |δ| of each layer, for this example:",
      [f"{np.abs(p['delta']).mean():.1e}" for p in view.passes[1:]])
view""",
    ),
    ("md", "The training curves that follow: the sigmoid network hardly moves."),
    (
        "code",
        """plt.figure(figsize=(6, 4))
for act in ["sigmoid", "tanh", "relu"]:
    net = cr.Network.from_sizes([2] + [16] * 10 + [2], act, seed=0)
    history = cr.fit(net, X, y, epochs=30, batch_size=32, optimizer="sgd", lr=0.05)
    plt.plot(history["loss"], label=act)
plt.xlabel("epoch"); plt.ylabel("training loss"); plt.legend()""",
    ),
]

NOTEBOOKS["04_gradient_descent"] = [
    (
        "md",
        """# The notes' gradient descent against SGD, momentum and Adam

The notes compute ∇L(θ) of L(θ) = Σ_n C^n(θ) over the whole data set, then step
θ ← θ − η ∇L (full-batch gradient descent). Mini-batch SGD takes a step per batch, on a noisy but
cheap estimate; momentum and Adam shape the steps. Same network, same data (moons), loss against
steps and against seconds.""",
    ),
    (
        "code",
        SETUP
        + """
import time
from chainrule.toys import toy

X, y = toy("moons", 512, noise=0.2, seed=0)
RUNS = {
    "full-batch GD (the notes)": dict(batch_size=None, optimizer="sgd", lr=0.5),
    "mini-batch SGD": dict(batch_size=32, optimizer="sgd", lr=0.1),
    "momentum": dict(batch_size=32, optimizer="momentum", lr=0.05),
    "Adam": dict(batch_size=32, optimizer="adam", lr=0.01),
}
EPOCHS = 40
curves = {}
for name, kw in RUNS.items():
    net = cr.Network.from_sizes([2, 16, 16, 2], "tanh", seed=0)
    t = time.perf_counter()
    history = cr.fit(net, X, y, epochs=EPOCHS, **kw)
    seconds = time.perf_counter() - t
    steps_per_epoch = 1 if kw["batch_size"] is None else -(-len(X) // kw["batch_size"])
    epochs = np.arange(1, EPOCHS + 1)
    curves[name] = (epochs * steps_per_epoch, epochs * seconds / EPOCHS, history["loss"])
    print(f"{name:28s} final loss {net.evaluate(X, y)['loss']:.3f}  ({seconds:.2f} s)")""",
    ),
    (
        "code",
        """fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for name, (steps, secs, loss) in curves.items():
    left.semilogx(steps, loss, label=name); right.plot(secs, loss, label=name)
left.set_xlabel("parameter updates (steps)"); right.set_xlabel("seconds (wall time per epoch, averaged)")
left.set_ylabel("training loss"); left.legend()""",
    ),
]

EXERCISE_SETUP = (
    SETUP
    + """
from chainrule.activations import Activation

rng = np.random.default_rng(0)
X = rng.normal(size=(6, 3))"""
)

MYSTERIES = '''class Mystery1(cr.Sigmoid):
    def _times_derivative(self, grad):
        grad *= self.a


class Mystery2(cr.Tanh):
    def _times_derivative(self, grad):
        grad *= 1 - self.a**2


class Mystery3(cr.Dense):
    def backward(self, grad, need_input_grad=True):
        super().backward(grad, False)
        return grad @ self.W if need_input_grad else None


class Mystery4(cr.Dropout):
    def backward(self, grad, need_input_grad=True):
        return grad


class Mystery5(cr.Softmax):
    def _times_derivative(self, grad):
        grad *= self.a * (1 - self.a)


def mystery_networks():
    """One small network around each mystery layer (all layers float64, seed 0)."""
    def net(layers, loss="cross_entropy"):
        return cr.Network(layers, loss, dtype="float64", seed=0)
    return {
        "Mystery1": net([cr.Dense(3, 4), Mystery1(), cr.Dense(4, 3), cr.Softmax()]),
        "Mystery2": net([cr.Dense(3, 4), Mystery2(), cr.Dense(4, 3), cr.Softmax()]),
        "Mystery3": net([cr.Dense(3, 4), cr.Tanh(), Mystery3(4, 4), cr.Tanh(), cr.Dense(4, 3), cr.Softmax()]),
        "Mystery4": net([cr.Dense(3, 6), cr.Tanh(), Mystery4(0.5), cr.Dense(6, 3), cr.Softmax()]),
        "Mystery5": net([cr.Dense(3, 4), cr.Tanh(), cr.Dense(4, 3), Mystery5()], "squared_error"),
    }'''

YOUR_OWN = [
    (
        "md",
        """## 1. Your own activation: softplus, a = log(1 + e^z), σ'(z) = 1 / (1 + e^(−z))

An `Activation` needs `_sigma(z, out)` (the forward rule, written into `out`) and
`_times_derivative(grad)` (multiply the incoming ∂C/∂a by σ'(z), in place: δ = σ'(z) ⊙ ∂C/∂a).
`gradcheck` checks the very object you give it: alone (∂/∂x of Σ R ⊙ σ(x)) or inside a network.""",
    ),
    (
        "code",
        EXERCISE_SETUP
        + """


class Softplus(Activation):
    name = "softplus"

    def _sigma(self, z, out):
        np.logaddexp(0, z, out=out)

    def _times_derivative(self, grad):
        grad *= 1 / (1 + np.exp(-self.z))


print(cr.gradcheck(Softplus(), X))
net = cr.Network([cr.Dense(3, 4), Softplus(), cr.Dense(4, 3), cr.Softmax()], seed=0)
result = cr.gradcheck(net, X, [0, 1, 2, 0, 1, 2])
print(result)
assert result.passed()""",
    ),
    (
        "md",
        """## 2. Your own loss: the Huber loss C = Σ_k h(a_k − y_k), h(r) = r²/2 for |r| ≤ 1, |r| − ½ beyond

A `Loss` needs `total` (Σ_n C^n), `delta` (δ^(O) = ∂L/∂z^(O): ∂C/∂a times the output's σ'(z), which
`out.backward` applies, scaled by `self._weigh` for the mean) and `targets`.""",
    ),
    (
        "code",
        """from chainrule.losses import SquaredError


class Huber(SquaredError):
    name = "huber"

    def total(self, out, y, s=None):
        r = np.abs(out.a - y)
        c = np.where(r <= 1, 0.5 * r**2, r - 0.5).sum(axis=1)
        return float(c.sum() if s is None else c @ s)

    def delta(self, out, y, s=None):
        d = np.clip(out.a - y, -1, 1)  # ∂C/∂a
        return out.backward(self._weigh(d, y, s))  # ⊙ σ'(z), / N for the mean


Z, targets = rng.normal(size=(6, 2)) * 2, rng.normal(size=(6, 2))
print(cr.gradcheck(Huber(), Z, targets))
assert cr.gradcheck(Huber(), Z, targets).passed()
net = cr.Network([cr.Dense(3, 4), Softplus(), cr.Dense(4, 2)], Huber(), seed=0)
assert cr.gradcheck(net, X, targets).passed()""",
    ),
    (
        "md",
        """## 3. Find the bugs

Each `Mystery` layer below computes its forward pass correctly; some backward passes are wrong.
Run `gradcheck` on each network, decide which are broken, then read each broken backward pass
and name the mistake. Solutions: [05_your_own_layer_solutions](05_your_own_layer_solutions.ipynb).""",
    ),
    (
        "code",
        MYSTERIES
        + """


y3 = np.array([0, 1, 2, 0, 1, 2])
y_sq = rng.normal(size=(6, 3))
for name, net in mystery_networks().items():
    targets = y_sq if net.loss.name == "squared_error" else y3
    result = cr.gradcheck(net, X, targets)
    print(f"{name}: {'passed' if result.passed() else 'FAILED'} (largest error {result.max_rel_error:.1e} at {result.worst})")""",
    ),
]

NOTEBOOKS["05_your_own_layer"] = YOUR_OWN

NOTEBOOKS["05_your_own_layer_solutions"] = [
    (
        "md",
        """# Solutions: the mystery layers

Run the exercise first. Here each verdict is checked, and each mistake named and repaired.""",
    ),
    (
        "code",
        EXERCISE_SETUP
        + "\n\n\n"
        + MYSTERIES
        + """


y3 = np.array([0, 1, 2, 0, 1, 2])
y_sq = rng.normal(size=(6, 3))
verdicts = {}
for name, net in mystery_networks().items():
    targets = y_sq if net.loss.name == "squared_error" else y3
    verdicts[name] = cr.gradcheck(net, X, targets).passed()
print(verdicts)
assert verdicts == {"Mystery1": False, "Mystery2": True, "Mystery3": False, "Mystery4": False, "Mystery5": False}""",
    ),
    (
        "md",
        """- **Mystery1**: σ'(z) = a, a factor (1 − a) missing. Fix: `grad *= self.a * (1 - self.a)`.
- **Mystery2**: healthy, σ'(z) = 1 − a² for tanh.
- **Mystery3**: returns δ W instead of δ Wᵀ (the notes' (W^(l+1))ᵀ δ^(l+1)); W square, so the
  shapes fit and only the numbers are wrong. Fix: `grad @ self.W.T`.
- **Mystery4**: dropout's mask applied in the forward pass but not in the backward pass. Fix:
  `grad *= self.mask` (when a mask was drawn).
- **Mystery5**: the one-term softmax derivative of seed 003 (erratum 1 in backprop.md): the
  Jacobian's off-diagonal −a_k a_j forgotten. Fix: the stock `cr.Softmax`.

The repaired layers are the stock ones, and they pass:""",
    ),
    (
        "code",
        """def repaired():
    net = lambda layers, loss="cross_entropy": cr.Network(layers, loss, dtype="float64", seed=0)
    return [
        net([cr.Dense(3, 4), cr.Sigmoid(), cr.Dense(4, 3), cr.Softmax()]),
        net([cr.Dense(3, 4), cr.Tanh(), cr.Dense(4, 4), cr.Tanh(), cr.Dense(4, 3), cr.Softmax()]),
        net([cr.Dense(3, 6), cr.Tanh(), cr.Dropout(0.5), cr.Dense(6, 3), cr.Softmax()]),
        net([cr.Dense(3, 4), cr.Tanh(), cr.Dense(4, 3), cr.Softmax()], "squared_error"),
    ]


for net in repaired():
    targets = y_sq if net.loss.name == "squared_error" else y3
    assert cr.gradcheck(net, X, targets).passed()
print("all repaired layers pass")""",
    ),
]


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(
            cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells],
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        )
        nbformat.write(nb, HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
