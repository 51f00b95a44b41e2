"""``chainrule gradcheck`` (backprop against finite differences) and ``chainrule playground``."""

from __future__ import annotations

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
@app.command()
def gradcheck(
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
    inputs: Annotated[int, typer.Option(min=1, help="inputs of the network to build")] = 4,
    outputs: Annotated[int, typer.Option(min=1, help="outputs of the network to build")] = 3,
    samples: Annotated[int, typer.Option(min=1, help="random examples the loss is summed over")] = 6,
    max_per_parameter: Annotated[
        int | None,
        typer.Option(
            min=1, help="check this many random entries per array (default: all; 50 for a model file)"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the network, the examples and the sampled entries")] = 0,
) -> None:
    """Compare backpropagation's gradient with finite differences, parameter by parameter, in float64."""
    if model is not None:
        network = _load_model(model)
        max_per_parameter = 50 if max_per_parameter is None else max_per_parameter
    else:
        try:
            network = cr.Network.from_sizes(
                [inputs, *_parse_layers(layers), outputs],
                _parse_activations(activation),
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


# -------------------------------------------------------------------------------- playground
@app.command()
def playground(
    port: Annotated[int, typer.Option(min=0, max=65535, help="port to serve on (0: any free port)")] = 8000,
    host: Annotated[
        str, typer.Option(help="address to bind; 127.0.0.1 is this machine only, 0.0.0.0 every network")
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
