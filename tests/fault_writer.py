"""A process that writes one kind of file over and over until it is killed (``kill -9``), used by
tests/test_fault_matrix.py: ``python tests/fault_writer.py KIND DIR``.

Before the loop it writes the two versions it alternates between as ``DIR/ref0.*`` and
``DIR/ref1.*``, then creates ``DIR/ready``: whatever moment the kill lands on, each real file in
``DIR/target`` must be byte for byte one of them (the old file or the new one, never a mix).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import chainrule as cr


def _nets() -> list[cr.Network]:
    nets = [cr.Network.from_sizes([3, 64, 64, 2], "relu", seed=s) for s in (0, 1)]
    for net in nets:
        net.metadata = {"classes": ["no", "yes"], "feature_names": ["a", "b", "c"], "task": "classification"}
    return nets


def main(kind: str, folder: Path) -> None:
    target = folder / "target"
    target.mkdir(exist_ok=True)
    nets = _nets()
    if kind == "model":
        for i, net in enumerate(nets):
            cr.save(net, folder / f"ref{i}.safetensors", overwrite=True)

        def write(i: int) -> None:
            cr.save(nets[i % 2], target / "model.safetensors", overwrite=True)

    elif kind == "history":
        from chainrule import rundir

        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
        histories = [cr.fit(net, X, y, epochs=2 + i, batch_size=8) for i, net in enumerate(_nets())]
        versions = [
            (nets[i], histories[i], {"test_accuracy": 0.5 + i / 4, "epochs": 2 + i}) for i in range(2)
        ]
        for i, (net, history, metrics) in enumerate(versions):
            (folder / f"ref{i}").mkdir(exist_ok=True)
            rundir.write_run(folder / f"ref{i}", net, history, metrics, ["no", "yes"], np.eye(2), True)

        def write(i: int) -> None:
            net, history, metrics = versions[i % 2]
            rundir.write_run(target, net, history, metrics, ["no", "yes"], np.eye(2), True)

    elif kind == "predictions":
        from chainrule import cli

        model = cr.save(nets[0], folder / "model.safetensors", overwrite=True)
        rows = []
        for i in range(2):
            rows.append(folder / f"rows{i}.npy")
            np.save(rows[-1], np.random.default_rng(i).normal(size=(2000, 3)))

        def predict(rows: Path, output: Path) -> None:
            try:
                cli.main(["predict", str(model), str(rows), "--output", str(output), "--force"])
            except SystemExit as done:
                assert done.code == 0, done.code

        for i in range(2):
            predict(rows[i], folder / f"ref{i}.csv")

        def write(i: int) -> None:
            predict(rows[i % 2], target / "predictions.csv")

    elif kind == "onnx":
        from chainrule import onnx

        for i, net in enumerate(nets):
            onnx.export(net, folder / f"ref{i}.onnx", overwrite=True)

        def write(i: int) -> None:
            onnx.export(nets[i % 2], target / "model.onnx", overwrite=True)

    elif kind == "checkpoint":
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(400, 3)), rng.integers(0, 2, 400)
        (folder / "ready").touch()
        cr.fit(nets[0], X, y, epochs=100_000, batch_size=16, checkpoint=target, checkpoint_every=1)
        return
    else:
        raise SystemExit(f"unknown kind {kind}")
    write(0)
    (folder / "ready").touch()
    i = 1
    while True:
        write(i)
        i += 1


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
