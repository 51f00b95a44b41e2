"""Data-parallel training on MPI: the allreduced gradient is the full-data gradient, k steps of
distributed training are single-process training, ranks stay bit-identical, failures abort.

The MPI tests launch this file under ``mpiexec -n 2`` (one BLAS thread per rank, with a timeout):
its ``__main__`` part is the program every rank runs; it saves what it computed to .npz files that
the tests compare with single-process training here.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli, data, distributed
from chainrule.checkpoint import checkpoints

N = 37  # rows of the training problems: uneven batches (8) and uneven shards
_bin = Path(sys.executable).parent / "mpiexec"
MPIEXEC = str(_bin) if _bin.exists() else shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(
    MPIEXEC is None or find_spec("mpi4py") is None,
    reason="needs mpi4py and mpiexec: pip install -e '.[mpi]'",
)

# (loss, output activation, outputs, reduction) for the gradient test
GRADIENT_CASES = [
    ("cross_entropy", "softmax", 3, "mean"),
    ("binary_cross_entropy", "sigmoid", 2, "mean"),
    ("squared_error", "identity", 2, "sum"),
]
# per split: (rows of rank 0, rows of rank 1) of N
SPLITS = {"even": (19, 18), "uneven": (5, 32), "rank0_empty": (0, 37), "rank1_empty": (37, 0)}
# per training run: fit's keyword arguments (and the split); dropout runs can only be compared across ranks
RUNS = {
    "sgd": ({"optimizer": "sgd", "lr": 0.2, "batch_size": 8, "epochs": 3}, "even"),
    "momentum": ({"optimizer": "momentum", "lr": 0.05, "batch_size": 8, "epochs": 3}, "uneven"),
    "adam": ({"optimizer": "adam", "lr": 0.01, "batch_size": 8, "epochs": 3}, "uneven"),
    "adam_empty": ({"optimizer": "adam", "lr": 0.01, "batch_size": 16, "epochs": 3}, "rank1_empty"),
    "full_batch": ({"optimizer": "sgd", "lr": 0.5, "batch_size": None, "epochs": 4}, "uneven"),
    "in_order": ({"optimizer": "sgd", "lr": 0.2, "batch_size": 10, "epochs": 2, "shuffle": False}, "uneven"),
}


def _problem(loss: str = "cross_entropy", k: int = 3, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(n, 5))
    if loss == "cross_entropy":
        return X, rng.integers(0, k, n)
    if loss == "binary_cross_entropy":
        return X, rng.integers(0, 2, (n, k)).astype(float)
    return X, rng.normal(size=(n, k))


def _net(loss: str = "cross_entropy", output: str = "softmax", k: int = 3, **kwargs) -> cr.Network:
    return cr.Network.from_sizes([5, 7, k], "tanh", output, loss, dtype="float64", seed=3, **kwargs)


def _standardizer_data() -> np.ndarray:
    """Float32 features far from 0 (a one-pass variance would cancel), one of them constant."""
    X = np.random.default_rng(5).normal(1000.0, [1.0, 0.001, 50.0, 3.0], size=(N, 4)).astype(np.float32)
    X[:, 3] = 7.0
    return X


def _rows(split: str, rank: int) -> slice:
    n0, _ = SPLITS[split]
    return slice(0, n0) if rank == 0 else slice(n0, N)


def _fit_kwargs(name: str) -> dict:
    kwargs, _ = RUNS[name]
    X, y = _problem()
    return {**kwargs, "validation_data": (X[:20], y[:20])}


# --------------------------------------------------------------------------------- the ranks' program
def _worker(scenario: str, out: Path) -> None:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank = comm.rank
    saved: dict[str, np.ndarray] = {}
    if scenario == "gradient":
        for loss, output, k, reduction in GRADIENT_CASES:
            X, y = _problem(loss, k)
            for split in SPLITS:
                net = _net(loss, output, k, reduction=reduction)
                rows = _rows(split, rank)
                ys = net.check_y(y[rows], rows.stop - rows.start)  # X[rows] is float64 already
                net.flat_grads[:] = 1.0  # as if left over from a previous step
                stats = distributed.train_step(net, X[rows], ys, N, comm)
                saved[f"{loss}-{split}-loss"] = np.array(stats[0] * net.loss.scale(N))
                saved[f"{loss}-{split}-count"] = stats[2:].copy()
                saved[f"{loss}-{split}-grad"] = net.flat_grads.copy()
    elif scenario == "train":
        X, y = _problem()
        for name, (_, split) in RUNS.items():
            net, rows = _net(), _rows(split, rank)
            if split == "even":  # the shard reader: each rank maps only its rows of the files
                Xs = distributed.read_npy_shard(out / "X.npy", rank, comm.size)
                ys = distributed.read_npy_shard(out / "y.npy", rank, comm.size)
            else:
                Xs, ys = X[rows], y[rows]
            kwargs = _fit_kwargs(name)
            Xv, yv = kwargs.pop("validation_data")
            val = (Xv[rank::2], yv[rank::2])  # each rank holds half of the validation rows
            history = distributed.fit(net, Xs, ys, comm=comm, validation_data=val, **kwargs)
            saved[f"{name}-params"] = net.flat_params.copy()
            for key, values in history.metrics.items():
                saved[f"{name}-{key}"] = np.array(values)
        # unseeded: every rank starts from other weights and another permutation, unless fit syncs them
        net = cr.Network.from_sizes([5, 7, 3], "tanh", dtype="float64")
        saved["start-params"] = net.flat_params.copy()
        saved["start-rng"] = np.array(json.dumps(net.rng.bit_generator.state))
        distributed.fit(net, X[_rows("uneven", rank)], y[_rows("uneven", rank)], comm=comm, epochs=2)
        saved["unseeded-params"] = net.flat_params.copy()
        # dropout: each rank draws its own masks, and the ranks still step identically
        net = _net(dropout=0.3)
        distributed.fit(net, X[_rows("uneven", rank)], y[_rows("uneven", rank)], comm=comm, epochs=2)
        saved["dropout-params"] = net.flat_params.copy()
        # one process (COMM_SELF) is ordinary training, bit for bit, dropout included
        for name in ("adam", "full_batch"):
            one, ref = _net(dropout=0.2), _net(dropout=0.2)
            h_one = distributed.fit(one, X, y, comm=MPI.COMM_SELF, **_fit_kwargs(name))
            h_ref = cr.fit(ref, X, y, **_fit_kwargs(name))
            saved[f"self-{name}-params"] = one.flat_params - ref.flat_params
            for key, values in h_ref.metrics.items():
                saved[f"self-{name}-{key}"] = np.array(h_one[key]) - values
    elif scenario == "standardizer":
        X = _standardizer_data()
        for split, per_feature in itertools.product(SPLITS, (True, False)):
            found = distributed.fit_standardizer(X[_rows(split, rank)], comm, per_feature)
            saved[f"{split}-{per_feature}-mean"], saved[f"{split}-{per_feature}-scale"] = (
                found.mean,
                found.scale,
            )
    elif scenario in ("checkpoint_start", "checkpoint_resume"):  # 2 epochs, then on to 4
        X, y = _problem()
        net, rows = _net(), _rows("uneven", rank)
        resume = scenario == "checkpoint_resume"
        kwargs = {**RUNS["adam"][0], "epochs": 4 if resume else 2}
        distributed.fit(net, X[rows], y[rows], comm=comm, checkpoint=out / "run", resume=resume, **kwargs)
        saved["params"] = net.flat_params.copy()
        # dropout, checkpointed after every batch: the start runs all 4 epochs, the resumed run
        # continues from the last checkpoint but one (the test removes the newest), mid-epoch
        net = _net(dropout=0.3)
        kwargs = {**RUNS["adam"][0], "epochs": 4, "checkpoint_every": "0.001ms"}
        distributed.fit(net, X[rows], y[rows], comm=comm, checkpoint=out / "dropout", resume=resume, **kwargs)
        saved["dropout-params"] = net.flat_params.copy()
    elif scenario == "diverges":
        X, y = _problem("squared_error", 2)
        net = _net("squared_error", "identity", 2)
        distributed.fit(net, X[_rows("even", rank)], y[_rows("even", rank)] * 1e200, comm=comm, lr=1.0)
    elif scenario == "callback_fails":  # an error on rank 1 alone, in the middle of training

        class Fails(cr.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
                if rank == 1 and epoch == 1:
                    raise RuntimeError("the disk of rank 1 is full")

        X, y = _problem()
        distributed.fit(_net(), X, y, comm=comm, epochs=50, callbacks=[Fails()])
    elif scenario == "bad_shard":  # rank 1's shard has the wrong columns
        X, y = _problem()
        distributed.fit(_net(), X[:, : 5 - rank], y, comm=comm, epochs=50)
    elif scenario == "script_fails":  # rank 1 fails before it joins: rank 0 waits in fit
        X, y = _problem()
        if rank == 1:
            raise KeyError("rank 1 could not read its shard")
        distributed.fit(_net(), X, y, comm=comm, epochs=50)
    np.savez(out / f"rank{rank}.npz", **saved)


def _mpiexec(scenario: str, out: Path, *, n: int = 2, mpi4py: bool = True, timeout: float = 60):
    """Run this file on ``n`` ranks (one BLAS thread each); fail, never hang, after ``timeout`` s."""
    cmd = [MPIEXEC, "-n", str(n), sys.executable, *(["-m", "mpi4py"] * mpi4py), __file__, scenario, out]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"mpiexec -n {n} ... {scenario} hung: killed after {timeout} s")
    return proc.returncode, stdout + stderr, time.perf_counter() - t0


def _results(out: Path, n: int = 2) -> list[dict[str, np.ndarray]]:
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(n)]


# --------------------------------------------------------------------------------- shards (no MPI)
@pytest.mark.parametrize("n_rows", [0, 1, 5, 37, 100])
@pytest.mark.parametrize("size", [1, 2, 3, 8])
def test_shard_bounds_cover_the_rows_in_order(n_rows, size):
    bounds = [distributed.shard_bounds(n_rows, r, size) for r in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n_rows
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    lengths = [stop - start for start, stop in bounds]
    assert lengths == [len(part) for part in np.array_split(np.arange(n_rows), size)]


def test_shard_bounds_reject_a_bad_rank():
    with pytest.raises(ValueError, match=r"rank must be in 0\.\.size-1"):
        distributed.shard_bounds(10, 2, 2)


def test_read_npy_shard_maps_only_its_rows(tmp_path):
    X = np.arange(70.0).reshape(10, 7)
    np.save(tmp_path / "X.npy", X)
    parts = [distributed.read_npy_shard(tmp_path / "X.npy", r, 3) for r in range(3)]
    assert all(isinstance(p, np.memmap) for p in parts)
    np.testing.assert_array_equal(np.concatenate(parts), X)
    assert [len(p) for p in parts] == [4, 3, 3]


def test_read_npy_shard_refuses_pickles_and_missing_files(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"not a \.npy array of numbers"):
        distributed.read_npy_shard(tmp_path / "objects.npy", 0, 1)
    with pytest.raises(FileNotFoundError, match=r"missing\.npy: no such file"):
        distributed.read_npy_shard(tmp_path / "missing.npy", 0, 1)


def _write_idx(path: Path, a: np.ndarray) -> None:
    """An IDX file (unsigned bytes) as the MNIST files are written."""
    header = bytes([0, 0, 0x08, a.ndim]) + np.array(a.shape, dtype=">u4").tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + a.astype(np.uint8).tobytes())


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
def test_read_idx_shard_reads_its_rows(tmp_path, name):
    images = np.arange(11 * 3 * 2).reshape(11, 3, 2) % 251
    _write_idx(tmp_path / name, images)
    parts = [distributed.read_idx_shard(tmp_path / name, r, 3) for r in range(3)]
    assert [len(p) for p in parts] == [4, 4, 3]
    np.testing.assert_array_equal(np.concatenate(parts), images)
    assert distributed.read_idx_shard(tmp_path / name, 11, 12).shape == (0, 3, 2)  # an empty shard


def test_read_csv_shard_is_read_csv_split_by_rows(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('a, b,label\n1,2,x\n\n3,4,y\n5,6,"x, quoted"\n7,8,y\n9,10,x\n')
    header, cells = data.read_csv(path)
    parts = [distributed.read_csv_shard(path, r, 3) for r in range(3)]
    assert all(h == header == ["a", "b", "label"] for h, _ in parts)
    assert [len(c) for _, c in parts] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([c for _, c in parts]), cells)
    assert distributed.read_csv_shard(path, 6, 7)[1].shape == (0, 3)  # more ranks than rows


def test_read_csv_shard_names_a_bad_row_and_an_empty_file(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3\n")
    distributed.read_csv_shard(path, 0, 2)  # rank 0 never splits rank 1's row into values
    with pytest.raises(ValueError, match=r"line 3: 1 values but the header has 2 columns"):
        distributed.read_csv_shard(path, 1, 2)
    path.write_text("a,b\n")
    with pytest.raises(ValueError, match="has no data rows"):
        distributed.read_csv_shard(path, 0, 2)


# --------------------------------------------------------------------------------- on 2 ranks
@needs_mpi
def test_allreduced_gradient_is_the_full_data_gradient(tmp_path):
    rc, log, _ = _mpiexec("gradient", tmp_path)
    assert rc == 0, log
    ranks = _results(tmp_path)
    for loss, output, k, reduction in GRADIENT_CASES:
        X, y = _problem(loss, k)
        ref = _net(loss, output, k, reduction=reduction)
        value = ref.train_step(ref.check_X(X), ref.check_y(y, N))  # one process, all the rows
        for split in SPLITS:
            key = f"{loss}-{split}"
            for r in ranks:
                assert r[f"{key}-count"][0] == N
                np.testing.assert_allclose(r[f"{key}-loss"], value, rtol=1e-10, err_msg=key)
                np.testing.assert_allclose(r[f"{key}-grad"], ref.flat_grads, rtol=1e-10, atol=1e-14)
            np.testing.assert_array_equal(ranks[0][f"{key}-grad"], ranks[1][f"{key}-grad"])


@needs_mpi
def test_k_steps_on_two_ranks_equal_one_process_and_ranks_stay_identical(tmp_path):
    X, y = _problem()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    rc, log, _ = _mpiexec("train", tmp_path)
    assert rc == 0, log
    ranks = _results(tmp_path)
    assert ranks[0].keys() == ranks[1].keys()
    for key in ranks[0]:
        if not key.startswith("start-"):
            np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)  # bit-identical
    for name in RUNS:
        ref = _net()
        history = cr.fit(ref, X, y, **_fit_kwargs(name))  # the same global batches, on one process
        start = _net().flat_params
        assert np.abs(ref.flat_params - start).max() > 1e-3, name  # the runs really trained
        np.testing.assert_allclose(ranks[0][f"{name}-params"], ref.flat_params, rtol=0, atol=1e-8)
        for key, values in history.metrics.items():
            np.testing.assert_allclose(ranks[0][f"{name}-{key}"], values, rtol=1e-10, err_msg=name)
    assert not np.array_equal(ranks[0]["dropout-params"], _net(dropout=0.3).flat_params)
    # unseeded networks: every rank trains from rank 0's weights and generator
    assert not np.array_equal(ranks[0]["start-params"], ranks[1]["start-params"])
    ref = cr.Network.from_sizes([5, 7, 3], "tanh", dtype="float64")
    ref.flat_params[:] = ranks[0]["start-params"]
    ref.rng.bit_generator.state = json.loads(str(ranks[0]["start-rng"]))
    cr.fit(ref, X, y, epochs=2)
    np.testing.assert_allclose(ranks[0]["unseeded-params"], ref.flat_params, rtol=0, atol=1e-8)
    for key in ranks[0]:
        if key.startswith("self-"):  # one process through distributed.fit is chainrule.fit
            tolerance = 1e-15 if key.endswith("val_loss") else 0  # Σ C^n is rescaled there
            assert np.abs(ranks[0][key]).max() <= tolerance, key


@needs_mpi
def test_fit_standardizer_is_the_standardizer_of_all_rows(tmp_path):
    rc, log, _ = _mpiexec("standardizer", tmp_path)
    assert rc == 0, log
    ranks = _results(tmp_path)
    X = _standardizer_data()
    for split, per_feature in itertools.product(SPLITS, (True, False)):
        ref = data.Standardizer.fit(X, per_feature)  # one process, all the rows
        for r in ranks:
            np.testing.assert_allclose(r[f"{split}-{per_feature}-mean"], ref.mean, rtol=1e-12)
            np.testing.assert_allclose(r[f"{split}-{per_feature}-scale"], ref.scale, rtol=1e-12)
    assert ref.scale.shape == (4,) and len(set(ref.scale)) == 1  # one scale for all the features
    assert data.Standardizer.fit(X).scale[3] == 1.0  # the constant feature


@needs_mpi
def test_a_distributed_run_checkpoints_and_resumes_as_one_process_trains(tmp_path):
    rc, log, _ = _mpiexec("checkpoint_start", tmp_path)
    assert rc == 0, log
    assert (tmp_path / "run" / "checkpoint-000000010.safetensors").exists()  # 2 epochs of 5 steps
    uninterrupted = _results(tmp_path)[0]["dropout-params"]
    newest, before = sorted((tmp_path / "dropout").glob("checkpoint-*.safetensors"))[::-1]
    assert (newest.name, before.name) == (
        "checkpoint-000000020.safetensors",
        "checkpoint-000000019.safetensors",
    )
    newest.unlink()  # resume from step 19: epoch 4, after its 4th batch of 5
    rc, log, _ = _mpiexec("checkpoint_resume", tmp_path)
    assert rc == 0, log
    ranks = _results(tmp_path)
    X, y = _problem()
    ref = _net()
    cr.fit(ref, X, y, **{**RUNS["adam"][0], "epochs": 4})
    np.testing.assert_array_equal(ranks[0]["params"], ranks[1]["params"])
    np.testing.assert_allclose(ranks[0]["params"], ref.flat_params, rtol=0, atol=1e-8)
    # with dropout, the resumed run draws the masks the uninterrupted one drew: bit-identical
    for r in ranks:
        np.testing.assert_array_equal(r["dropout-params"], uninterrupted)
    without_dropout = _results(tmp_path)[0]["params"]
    assert np.abs(uninterrupted - without_dropout).max() > 1e-3  # the masks did act


@needs_mpi
def test_the_divergence_guard_stops_every_rank_alike(tmp_path):
    rc, log, _ = _mpiexec("diverges", tmp_path, mpi4py=False, timeout=30)
    assert rc != 0
    assert "DivergenceError: training diverged in epoch 1, batch 1 (step 1)" in log
    assert "Traceback" not in log


@needs_mpi
def test_an_error_on_one_rank_aborts_all_with_its_message(tmp_path):
    rc, log, seconds = _mpiexec("callback_fails", tmp_path, mpi4py=False, timeout=30)
    assert rc != 0
    assert "chainrule: rank 1 of 2: RuntimeError: the disk of rank 1 is full" in log
    assert "Traceback" in log  # not bad input: where it happened is shown
    assert seconds < 30


@needs_mpi
def test_bad_input_on_one_rank_aborts_all_with_one_readable_line(tmp_path):
    rc, log, _ = _mpiexec("bad_shard", tmp_path, mpi4py=False, timeout=30)
    assert rc != 0
    assert "chainrule: rank 1 of 2: ValueError: X has 4 features but the network expects 5" in log
    assert "Traceback" not in log


@needs_mpi
def test_a_script_failing_on_one_rank_under_m_mpi4py_aborts_all(tmp_path):
    rc, log, _ = _mpiexec("script_fails", tmp_path, timeout=30)
    assert rc != 0
    assert "KeyError: 'rank 1 could not read its shard'" in log


# --------------------------------------------------------------------------------- the command line
CHAINRULE = Path(sys.executable).parent / "chainrule"
TRAIN = [
    "train",
    "--data",
    "digits",
    "--dtype",
    "float64",
    "--layers",
    "32",
    "--epochs",
    "3",
    "--batch-size",
    "64",
]


def _mpiexec_cli(args: list[str], cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """``mpiexec -n 2 chainrule ARGS``: its exit status and output."""
    return _job([MPIEXEC, "-n", "2", str(CHAINRULE), *args], cwd, timeout)


def _job(cmd: list[str], cwd: Path, timeout: float) -> tuple[int, str]:
    """Run an mpiexec command line (one BLAS thread per rank): its exit status and output, or a
    failed test naming it if it hangs (the whole process group killed)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        return proc.wait(timeout=timeout), proc.communicate()[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{' '.join(cmd)} hung: killed after {timeout} s")


@needs_mpi
def test_mpiexec_chainrule_train_equals_one_process(tmp_path, monkeypatch):
    rc, log = _mpiexec_cli([*TRAIN, "--out", "two"], tmp_path)
    assert rc == 0, log
    assert "2 processes" in log and log.count("epoch 3/3") == 1  # rank 0 alone prints
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        cli.main([*TRAIN, "--out", "one"])
    assert done.value.code == 0
    metrics = [json.loads((tmp_path / run / "metrics.json").read_text()) for run in ("one", "two")]
    assert metrics[0]["test_accuracy"] == metrics[1]["test_accuracy"] > 0.5
    np.testing.assert_allclose(metrics[1]["test_loss"], metrics[0]["test_loss"], rtol=1e-10)
    one, two = (cr.load(tmp_path / run / "model.safetensors") for run in ("one", "two"))
    assert np.abs(one.flat_params - cr.Network.from_sizes([64, 32, 10], seed=0).flat_params).max() > 1e-3
    np.testing.assert_allclose(two.flat_params, one.flat_params, rtol=0, atol=1e-8)


@needs_mpi
def test_mpiexec_chainrule_train_error_on_one_rank_aborts_all_with_one_line(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "model.safetensors").write_text("the user's model")
    rc, log = _mpiexec_cli([*TRAIN, "--out", "taken"], tmp_path, timeout=30)  # rank 0 alone writes
    assert rc != 0
    assert "error: rank 0 of 2: run directory taken exists and is not empty: pass --force" in log
    assert "Traceback" not in log
    assert (tmp_path / "taken" / "model.safetensors").read_text() == "the user's model"


def _rank_pid(run: str, rank: int) -> int | None:
    """The process id of rank ``rank`` of the ``chainrule train ... --out RUN`` job, if it runs."""
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            env = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if str(CHAINRULE).encode() in cmd[:2] and run.encode() in cmd and f"PMI_RANK={rank}".encode() in env:
            return int(proc.name)
    return None


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("rank", [0, 1])
def test_mpiexec_train_killed_on_one_rank_resumes_bit_identical(tmp_path, rank):
    """``kill -9`` of one rank mid-training ends the job; ``mpiexec -n 2 chainrule train --resume``
    then ends with the bytes of the run never interrupted, and resuming a finished run changes
    nothing."""
    args = [*TRAIN, "--epochs", "30", "--batch-size", "16", "--checkpoint-every", "1"]
    rc, log = _mpiexec_cli([*args, "--out", "ref"], tmp_path, timeout=120)
    assert rc == 0, log
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    job = subprocess.Popen(
        [MPIEXEC, "-n", "2", str(CHAINRULE), *args, "--out", "killed"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while max([int(p.name[11:20]) for p in checkpoints(tmp_path / "killed")], default=0) < 2 * 76:  # 2 epochs
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()[0]
        time.sleep(0.005)
    pid = _rank_pid("killed", rank)
    assert pid is not None and job.poll() is None, "the run ended before a rank could be killed"
    os.kill(pid, signal.SIGKILL)
    try:
        job.wait(timeout=60)
    finally:
        os.killpg(job.pid, signal.SIGKILL) if job.poll() is None else None
    assert job.returncode != 0
    model = tmp_path / "killed" / "model.safetensors"
    assert not model.exists(), "the killed run wrote its model"

    rc, log = _mpiexec_cli(["train", "--resume", "killed"], tmp_path, timeout=120)
    assert rc == 0, log
    assert _bytes_of(tmp_path / "ref") == _bytes_of(tmp_path / "killed")
    before = model.read_bytes()
    rc, log = _mpiexec_cli(["train", "--resume", "killed"], tmp_path, timeout=120)  # finished: a no-op
    assert rc == 0, log
    assert model.read_bytes() == before and _bytes_of(tmp_path / "ref") == _bytes_of(tmp_path / "killed")


def _bytes_of(run: Path) -> tuple[bytes, dict]:
    """A run's weights (bytes) and its metrics but the wall time."""
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.pop("train_seconds")
    return cr.load(run / "model.safetensors").flat_params.tobytes(), metrics


# ---------------------------------------------------------------- the command line reads shards
# Each rank gets its own copy of the data in which every row outside its shard is garbage (a CSV
# row that does not parse, an image of other pixels): a run equal to one process on the true
# data shows that no rank parsed or used a row that is not its own.
def _mpiexec_ranks(args: list[list[str]], cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """``mpiexec -n 1 chainrule ARGS_0 : -n 1 chainrule ARGS_1``: one job, each rank its own arguments."""
    cmd = [MPIEXEC]
    for i, rank_args in enumerate(args):
        cmd += [*([":"] if i else []), "-n", "1", str(CHAINRULE), *rank_args]
    return _job(cmd, cwd, timeout)


def _one_process(args: list[str], cwd: Path, monkeypatch) -> None:
    monkeypatch.chdir(cwd)
    with pytest.raises(SystemExit) as done:
        cli.main(args)
    assert done.value.code == 0


def _assert_same_run(one: Path, two: Path) -> None:
    """The same metrics (all but the wall time and the data's path) and, to 1e-8, the same model."""
    m1, m2 = (json.loads((run / "metrics.json").read_text()) for run in (one, two))
    assert m1.keys() == m2.keys()
    assert (m1["processes"], m2["processes"]) == (1, 2)
    for key in m1.keys() - {"train_seconds", "data", "processes"}:
        if isinstance(m1[key], float):
            np.testing.assert_allclose(m2[key], m1[key], rtol=1e-10, err_msg=key)
        else:
            assert m2[key] == m1[key], key
    net1, net2 = cr.load(one / "model.safetensors"), cr.load(two / "model.safetensors")
    np.testing.assert_allclose(net2.flat_params, net1.flat_params, rtol=0, atol=1e-8)
    for k in ("mean", "scale"):
        np.testing.assert_allclose(
            net2.metadata["standardize"][k], net1.metadata["standardize"][k], rtol=1e-12
        )
    assert {k: v for k, v in net2.metadata.items() if k not in ("standardize", "data")} == {
        k: v for k, v in net1.metadata.items() if k not in ("standardize", "data")
    }


CSV_RUN = [
    "train",
    "--dtype",
    "float64",
    "--layers",
    "8",
    "--epochs",
    "3",
    "--batch-size",
    "16",
    "--lr",
    "0.03",
    "--force",
]


@needs_mpi
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_mpiexec_train_on_a_csv_file_parses_only_each_ranks_rows(tmp_path, monkeypatch, task):
    rng = np.random.default_rng(11)
    n = 203
    X = rng.normal(size=(n, 3))
    if task == "classification":  # integer labels, sorted as numbers; class 10 only in rank 1's rows
        y = np.where(X[:, 0] > 0, 2, 1)
        y[150::7] = 10
    else:
        y = np.round(X @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=n), 3)
    lines = [f"{a:.6f},{b:.6f},{c:.6f},{t}" for (a, b, c), t in zip(X, y, strict=True)]
    (tmp_path / "data.csv").write_text("a,b,c,target\n" + "\n".join(lines) + "\n")
    for rank in range(2):  # rank r's copy: the other ranks' rows do not parse
        start, stop = distributed.shard_bounds(n, rank, 2)
        mine = ["not,a,number,!" if not start <= i < stop else line for i, line in enumerate(lines)]
        (tmp_path / f"rank{rank}.csv").write_text("a,b,c,target\n" + "\n".join(mine) + "\n")
    samples = ["--samples", "190"] if task == "classification" else []  # uneven shards: 102 and 88 rows
    rc, log = _mpiexec_ranks(
        [[*CSV_RUN, *samples, "--data", f"rank{r}.csv", "--out", "two"] for r in range(2)], tmp_path
    )
    assert rc == 0, log
    assert "2 processes" in log and log.count("epoch 3/3") == 1
    _one_process([*CSV_RUN, *samples, "--data", "data.csv", "--out", "one"], tmp_path, monkeypatch)
    _assert_same_run(tmp_path / "one", tmp_path / "two")
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    if task == "classification":
        assert cr.load(tmp_path / "two" / "model.safetensors").metadata["classes"] == [1, 2, 10]
        assert metrics["test_accuracy"] > 0.6
    else:
        assert metrics["test_r2"] > 0.3 and {"train_rmse", "val_mae", "test_r2"} <= metrics.keys()


@needs_mpi
def test_mpiexec_train_on_fashion_mnist_files_reads_only_each_ranks_images(tmp_path, monkeypatch):
    rng = np.random.default_rng(12)
    n_train, n_test = 300, 101
    y, y_test = rng.integers(0, 10, n_train), rng.integers(0, 10, n_test)
    band = lambda y: 150 * (np.arange(28)[None, :, None] // 3 == y[:, None, None])  # noqa: E731
    images = rng.integers(0, 100, (n_train, 28, 28)) + band(y)  # class k: rows 3k..3k+2 light up
    test_images = rng.integers(0, 100, (n_test, 28, 28)) + band(y_test)
    files = {"train-labels-idx1-ubyte.gz": y, "t10k-labels-idx1-ubyte.gz": y_test}
    (tmp_path / "true").mkdir()
    for name, a in {
        **files,
        "train-images-idx3-ubyte.gz": images,
        "t10k-images-idx3-ubyte": test_images,
    }.items():
        _write_idx(tmp_path / "true" / name, a)
    train, val, _ = data.split_indices(y, 0.0, 0.1, seed=0)  # the split of one process
    for rank in range(2):  # rank r's copy: every image outside its shard is another one
        part = np.zeros(n_train, dtype=bool)
        for rows in (train, val):
            part[rows[slice(*distributed.shard_bounds(len(rows), rank, 2))]] = True
        test_part = np.zeros(n_test, dtype=bool)
        test_part[slice(*distributed.shard_bounds(n_test, rank, 2))] = True
        assert 0 < part.sum() < n_train
        folder = tmp_path / f"rank{rank}"
        folder.mkdir()
        for name, a in files.items():  # every rank reads all the labels
            _write_idx(folder / name, a)
        _write_idx(folder / "train-images-idx3-ubyte.gz", np.where(part[:, None, None], images, 255 - images))
        _write_idx(folder / "t10k-images-idx3-ubyte", np.where(test_part[:, None, None], test_images, 0))
    args = ["train", "--data", "fashion-mnist", "--dtype", "float64", "--layers", "16", "--epochs", "2"]
    args += ["--batch-size", "32", "--force"]
    rc, log = _mpiexec_ranks([[*args, "--data-dir", f"rank{r}", "--out", "two"] for r in range(2)], tmp_path)
    assert rc == 0, log
    assert f"{len(train)} training, {len(val)} validation, 101 test rows" in log and "2 processes" in log
    _one_process([*args, "--data-dir", "true", "--out", "one"], tmp_path, monkeypatch)
    _assert_same_run(tmp_path / "one", tmp_path / "two")
    assert json.loads((tmp_path / "two" / "metrics.json").read_text())["test_accuracy"] > 0.5


if __name__ == "__main__":
    _worker(sys.argv[1], Path(sys.argv[2]))
