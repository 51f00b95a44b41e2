"""``chainrule gradcheck`` (backprop against finite differences) and ``chainrule playground``.

gradcheck works in float64 and perturbs every parameter it checks, two forward passes over all
its examples each: its sizes are bounded before anything is made (`MAX_SAMPLES`, `MAX_WIDTH`,
`MAX_PARAMETERS`, `MAX_VALUES`), each refused in one line naming its flag and its limit."""

from __future__ import annotations

import itertools
import signal
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

import chainrule as cr
from chainrule.cli.app import (
    CLIError,
    LossName,
    _checked_by,
    _load_model,
    _parse_activations,
    _parse_layers,
    app,
    console,
)  # fmt: skip

# --------------------------------------------------------------------------------- gradcheck
MAX_SAMPLES = 100_000  # random examples
MAX_WIDTH = 100_000  # inputs, outputs, or neurons of one hidden layer
MAX_PARAMETERS = 1_000_000  # weights and biases: 8 MB each copy (θ, ∇L, the finite differences)
MAX_VALUES = 10_000_000  # examples × (inputs + neurons + outputs): z, a and δ, 80 MB each
NEW_NETWORK = ("layers", "activation", "loss", "inputs", "outputs")  # the options that describe one


@app.command()
def gradcheck(
    ctx: typer.Context,
    model: Annotated[
        Path | None, typer.Option(help="check this model file instead of building a network")
    ] = None,
    layers: Annotated[
        str,
        typer.Option(help="hidden-layer widths of the network to build", callback=_checked_by(_parse_layers)),
    ] = "5,4",
    activation: Annotated[
        str,
        typer.Option(
            help="hidden activation, or one per hidden layer", callback=_checked_by(_parse_activations)
        ),
    ] = "tanh",
    loss: Annotated[LossName, typer.Option(help="loss of the network to build")] = "cross_entropy",
    inputs: Annotated[int, typer.Option(min=1, max=MAX_WIDTH, help="inputs of the network to build")] = 4,
    outputs: Annotated[int, typer.Option(min=1, max=MAX_WIDTH, help="outputs of the network to build")] = 3,
    samples: Annotated[
        int, typer.Option(min=1, max=MAX_SAMPLES, help="random examples the loss is summed over")
    ] = 6,
    max_per_parameter: Annotated[
        int | None,
        typer.Option(
            min=1, help="check this many random entries per array (default: all; 50 for a model file)"
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(min=0, max=2**63 - 1, help="seed of the network, the examples and the sampled entries"),
    ] = 0,
) -> None:
    """Compare backpropagation's gradient with finite differences, parameter by parameter, in float64."""
    if model is not None:
        given = [name for name in NEW_NETWORK if ctx.get_parameter_source(name).name != "DEFAULT"]
        if given:
            flags = ", ".join("--" + name for name in given)
            verb, it, them = (
                ("describes", "it is", "it") if len(given) == 1 else ("describe", "they are", "them")
            )
            raise CLIError(f"{flags} {verb} a new network; with --model {it} not used: leave {them} out")
        network = _load_model(model)
        max_per_parameter = 50 if max_per_parameter is None else max_per_parameter
        _check_values(_sizes(network), samples, f"--model {model}")
    else:
        hidden = _parse_layers(layers)
        activations = _parse_activations(activation)
        if isinstance(activations, list) and len(activations) != len(hidden):
            raise CLIError(
                f"--activation gives {len(activations)} activations for {len(hidden)} hidden layer(s) "
                f"(--layers {layers}): give one for all of them, or one per hidden layer"
            )
        sizes = [inputs, *hidden, outputs]
        _check_parameters(sizes)
        _check_values(sizes, samples, "--inputs, --layers, --outputs")
        try:
            network = cr.Network.from_sizes(
                [inputs, *hidden, outputs],
                activations,
                loss=loss,
                dtype="float64",
                seed=seed,
            )
        except ValueError as e:
            raise CLIError(str(e)) from None
        rng = np.random.default_rng(seed)
        for level in network.levels:  # biases away from 0: fewer z on a ReLU kink
            level.b[...] = rng.normal(0, 0.5, level.b.shape)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(samples, network.n_features))
    k = network.n_outputs
    if network.loss.name == "cross_entropy":
        y = rng.integers(0, k, samples)
    elif network.loss.name == "binary_cross_entropy":
        y = rng.integers(0, 2, (samples, k)).astype(float)
    elif network.loss.name == "poisson":  # counts
        y = rng.poisson(2.0, (samples, k)).astype(float)
    else:
        y = rng.normal(size=(samples, k))
    result = cr.gradcheck(network, X, y, max_per_parameter=max_per_parameter, seed=seed)
    console.print(f"gradient check of {network!r} on {samples} random examples", soft_wrap=True, markup=False)
    console.print(str(result), markup=False)
    if not result.passed():
        console.print(
            "FAILED: backprop and finite differences disagree (error ≥ 1e-6 of the array's largest "
            "gradient), or a gradient is too small to judge (unresolved)",
            markup=False,
        )
        raise typer.Exit(1)
    console.print("passed: every error is below 1e-6 of its array's largest gradient", markup=False)


def _sizes(network: cr.Network) -> list[int]:
    """The widths of a network's layers, from its input to its output."""
    return [network.n_features, *(level.W.shape[1] for level in network.levels)]


def _check_parameters(sizes: list[int]) -> None:
    """Refuse, before it is made, a network of more than `MAX_PARAMETERS` parameters."""
    n_params = sum((n_in + 1) * n_out for n_in, n_out in itertools.pairwise(sizes))
    if n_params > MAX_PARAMETERS:
        shown = "-".join(map(str, sizes)) if len(sizes) <= 8 else f"{len(sizes) - 2} hidden layers"
        raise CLIError(
            f"--inputs, --layers, --outputs make a network of {n_params:,} parameters ({shown}); "
            f"gradcheck checks at most {MAX_PARAMETERS:,} (two forward passes each): choose smaller widths"
        )


def _check_values(sizes: list[int], samples: int, flags: str) -> None:
    """Refuse, before anything is made, a check whose z, a and δ would hold more than
    `MAX_VALUES` values."""
    if samples * sum(sizes) > MAX_VALUES:
        raise CLIError(
            f"--samples {samples:,} of a network of {sum(sizes):,} neurons ({flags}) need "
            f"{samples * sum(sizes):,} values of z, a and δ; gradcheck holds at most {MAX_VALUES:,}: "
            f"give at most --samples {max(MAX_VALUES // sum(sizes), 1):,}"
        )


# -------------------------------------------------------------------------------- playground
def _parse_host(text: str) -> str:
    """An address to bind: not empty (an empty one would be every address, shown as http://:8000/)."""
    if not text.strip():
        raise ValueError(
            f"expected an address such as 127.0.0.1 (this machine) or 0.0.0.0 (every network), got {text!r}"
        )
    return text


@app.command()
def playground(
    port: Annotated[int, typer.Option(min=0, max=65535, help="port to serve on (0: any free port)")] = 8000,
    host: Annotated[
        str,
        typer.Option(
            help="address to bind; 127.0.0.1 is this machine only, 0.0.0.0 every network",
            callback=_checked_by(_parse_host),
        ),
    ] = "127.0.0.1",
) -> None:
    """Serve the web playground (watch every a, δ and ∂C/∂w while a network learns) until Ctrl+C."""
    try:
        from chainrule.playground import serve
    except ModuleNotFoundError as e:
        raise CLIError(str(e)) from None
    # uvicorn shuts down gracefully on SIGINT and SIGTERM, then re-raises them: Python's own
    # handlers, not the command line's, so that Ctrl+C ends it with status 0 and SIGTERM by the signal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        serve(host, port)
    except OSError as e:  # the port is taken, the address is not this machine's
        raise CLIError(e.strerror or str(e)) from None
    except KeyboardInterrupt:  # Ctrl+C, uvicorn's way to stop: a normal end (SIGTERM ends it by the signal)
        console.print("playground stopped", markup=False)
