"""Data sets: the IDX reader, the Fashion-MNIST search order and download (against a local HTTP
server), CSV files, labels, splits and the standardiser stored in model files."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from chainrule import data
from chainrule.data import DataError

FILES = list(data.FASHION_MNIST_SHA256)


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """An IDX file of ``array`` (uint8 or big-endian int32), as the MNIST files are written."""
    code = {np.dtype("u1"): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    raw = bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes() + array.tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def fixture_set(folder: Path, seed: int = 0, n_train: int = 12, n_test: int = 5) -> dict[str, np.ndarray]:
    """Four small Fashion-MNIST-shaped IDX gzip files in ``folder``; returns their arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(folder / name, array)
    return arrays


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("compress", [True, False])
def test_idx_reads_whole_files_and_row_ranges(tmp_path, compress):
    images = np.arange(7 * 3 * 4, dtype=np.uint8).reshape(7, 3, 4)
    path = write_idx(tmp_path / "images.idx", images, compress)
    dtype, shape, offset = data.idx_header(path)
    assert (dtype, shape, offset) == (np.dtype("u1"), (7, 3, 4), 16)
    np.testing.assert_array_equal(data.read_idx(path), images)
    np.testing.assert_array_equal(data.read_idx(path, 2, 5), images[2:5])
    np.testing.assert_array_equal(data.read_idx(path, 5), images[5:])
    assert data.read_idx(path, 7).shape == (0, 3, 4)
    values = np.array([-3, 70000, 5], dtype=">i4")
    read = data.read_idx(write_idx(tmp_path / "ints.idx", values, compress), 1)
    assert read.tolist() == [70000, 5] and read.dtype == np.int32


def test_idx_refuses_what_is_not_one(tmp_path):
    (tmp_path / "text.idx").write_text("hello, world")
    with pytest.raises(DataError, match="not an IDX file"):
        data.read_idx(tmp_path / "text.idx")
    path = write_idx(tmp_path / "cut.idx", np.zeros((4, 5), dtype=np.uint8), compress=False)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataError, match="truncated"):
        data.read_idx(path)
    with pytest.raises(DataError, match="outside"):
        data.read_idx(write_idx(tmp_path / "whole.idx", np.zeros((4, 5), dtype=np.uint8)), 3, 2)


# ------------------------------------------------------------------------ Fashion-MNIST: finding
def test_search_order_data_dir_then_environment_then_system(tmp_path, monkeypatch):
    first, second, system = tmp_path / "first", tmp_path / "env", tmp_path / "system"
    a, b, c = fixture_set(first, 1), fixture_set(second / "fashion-mnist", 2), fixture_set(system, 3)
    monkeypatch.setenv("CHAINRULE_DATA", str(second))
    monkeypatch.setattr(data, "SYSTEM_DATA_DIR", system)
    cache = tmp_path / "cache"
    X, y, _, _ = data.load_fashion_mnist(first, cache_dir=cache)
    np.testing.assert_array_equal(X, a["train-images-idx3-ubyte.gz"].reshape(12, -1))
    X, y, _, _ = data.load_fashion_mnist(cache_dir=cache)  # $CHAINRULE_DATA/fashion-mnist
    np.testing.assert_array_equal(y, b["train-labels-idx1-ubyte.gz"])
    monkeypatch.delenv("CHAINRULE_DATA")
    X, y, X_test, _ = data.load_fashion_mnist(cache_dir=cache)  # the system folder
    np.testing.assert_array_equal(X_test, c["t10k-images-idx3-ubyte.gz"].reshape(5, -1))
    assert X.dtype == np.uint8 and y.dtype == np.intp  # the pixels as in the files
    assert not cache.exists()  # found locally: nothing downloaded


def _break(folder: Path, how: str) -> None:
    """Spoil a complete fixture folder: one file missing, a folder in place of a file, ..."""
    if how == "three of four":
        (folder / FILES[1]).unlink()
    elif how == "a folder in place of a file":
        (folder / FILES[2]).unlink()
        (folder / FILES[2]).mkdir()
    elif how == "two missing, one a folder":
        for name in FILES[:2]:
            (folder / name).unlink()
        (folder / FILES[3]).unlink()
        (folder / FILES[3].removesuffix(".gz")).mkdir()


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("missing", r"data_dir .*named does not exist: put the Fashion-MNIST files \(train-images"),
        ("a file", r"data_dir .*named is not a folder: put"),
        ("three of four", rf"data_dir .*named lacks {FILES[1]}: put"),
        ("a folder in place of a file", rf"data_dir .*named has {FILES[2]} but not as a file: put"),
        (
            "two missing, one a folder",
            rf"lacks {FILES[0]}, {FILES[1]} and has t10k-labels-idx1-ubyte but not",
        ),
        ("subfolder", rf"data_dir .*named \(its fashion-mnist subfolder\) lacks {FILES[1]}: put"),
    ],
)
def test_a_folder_the_user_names_is_used_or_refused_never_replaced(tmp_path, monkeypatch, how, message):
    """Every other place holds the files: the old code silently took them instead."""
    fixture_set(tmp_path / "env")
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(data, "SYSTEM_DATA_DIR", tmp_path / "env")
    cache = tmp_path / "cache"
    fixture_set(cache)
    named = tmp_path / "named"
    if how == "a file":
        named.write_text("not a folder")
    elif how == "subfolder":
        fixture_set(named / "fashion-mnist")
        _break(named / "fashion-mnist", "three of four")
    elif how != "missing":
        fixture_set(named)
        _break(named, how)
    with pytest.raises(DataError, match=message) as error:
        data.fashion_mnist_files(named, cache_dir=cache)
    assert "\n" not in str(error.value) and "--" not in str(error.value)
    assert str(error.value).endswith("$CHAINRULE_DATA, " + str(tmp_path / "env") + " or the download cache")
    with pytest.raises(DataError, match=message):  # the same through data.load
        data.load("fashion-mnist", data_dir=named, cache_dir=cache)


def test_a_complete_named_folder_or_its_subfolder_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    fixture_set(tmp_path / "env", seed=1)
    arrays = fixture_set(tmp_path / "named" / "fashion-mnist", seed=2)
    (tmp_path / "named" / FILES[0]).write_bytes(b"a stray file")  # the subfolder is complete: taken
    files = data.fashion_mnist_files(tmp_path / "named")
    assert files == {name: tmp_path / "named" / "fashion-mnist" / name for name in FILES}
    X, _, _, _ = data.load_fashion_mnist(tmp_path / "named")
    np.testing.assert_array_equal(X, arrays[FILES[0]].reshape(12, -1))


@pytest.fixture
def server(tmp_path):
    """A static HTTP server on 127.0.0.1 serving tmp_path/www; yields (base URL, request log)."""
    www = tmp_path / "www"
    www.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", www, requests
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_sha256_and_caches(server, tmp_path):
    url, www, requests = server
    arrays = fixture_set(www)
    sums = {name: sha256(www / name) for name in FILES}
    cache = tmp_path / "cache"
    reports = []
    X, _, _, y_test = data.load_fashion_mnist(
        search=[],
        cache_dir=cache,
        base_url=url,
        sha256=sums,
        report=lambda name, done, total: reports.append((name, done, total)),
    )
    np.testing.assert_array_equal(X, arrays["train-images-idx3-ubyte.gz"].reshape(12, -1))
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)
    assert {name for name, _, _ in reports} == set(FILES)
    assert all(done == total for name, done, total in reports if done == (www / name).stat().st_size)
    assert len(requests) == 4
    data.load_fashion_mnist(search=[], cache_dir=cache, base_url=url, sha256=sums)
    assert len(requests) == 4  # the second time from the cache


def test_a_corrupted_download_is_rejected_and_leaves_nothing(server, tmp_path):
    url, www, _ = server
    fixture_set(www)
    sums = {name: sha256(www / name) for name in FILES}
    good = (www / FILES[1]).read_bytes()
    (www / FILES[1]).write_bytes(good[:-8] + bytes(8))  # corrupted on the way
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=f"{FILES[1]} has SHA-256 .* expected {sums[FILES[1]]}"):
        data.load_fashion_mnist(search=[], cache_dir=cache, base_url=url, sha256=sums)
    assert sorted(p.name for p in cache.iterdir()) == [FILES[0]]  # verified files only, no partial file
    (www / FILES[1]).write_bytes(good)  # repaired at the source: the next call completes the cache
    data.load_fashion_mnist(search=[], cache_dir=cache, base_url=url, sha256=sums)
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)


def test_an_unreachable_source_is_a_clear_error(server, tmp_path):
    url, _, _ = server
    with pytest.raises(DataError, match=r"could not download .*HTTP 404.*given as data_dir=$"):
        data.load_fashion_mnist(search=[], cache_dir=tmp_path / "cache", base_url=url + "missing/")
    with pytest.raises(DataError, match="only http"):
        data.download("file:///etc/passwd", tmp_path / "x", "0" * 64)


REAL = data.SYSTEM_DATA_DIR


@pytest.mark.skipif(not REAL.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_real_fashion_mnist_files():
    """The files of the Debian package, as the README's test command installs them."""
    X, y, X_test, y_test = data.load_fashion_mnist(search=[REAL], cache_dir=Path("/nonexistent"))
    assert X.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    assert y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]  # ankle boot, T-shirt, ...
    assert X.min() == 0 and X.max() == 255
    decompressed = {  # SHA-256 of the four IDX files, whatever their gzip compression
        "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    }
    for name, digest in decompressed.items():
        with gzip.open(REAL / name) as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest
    rows = data.read_idx(REAL / "train-images-idx3-ubyte.gz", 100, 103)
    np.testing.assert_array_equal(rows.reshape(3, -1), X[100:103])


# ------------------------------------------------------------------------------------------ CSV
def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_with_string_labels_and_a_chosen_target(tmp_path):
    path = write_csv(tmp_path / "t.csv", "a, b ,kind,c\n1,2,cat,3\n4,5.5, dog ,6\n-1,0,cat,1e3\n")
    X, raw, names, target = data.load_csv(path, "kind")
    np.testing.assert_array_equal(X, [[1, 2, 3], [4, 5.5, 6], [-1, 0, 1000]])
    assert names == ["a", "b", "c"] and target == "kind" and raw.tolist() == ["cat", "dog", "cat"]
    y, classes = data.encode_labels(raw)
    assert classes == ["cat", "dog"] and y.tolist() == [0, 1, 0]
    with pytest.raises(DataError, match="column 'kind' is not a number"):
        data.load_csv(path)  # the last column is the target by default: kind is a feature


@pytest.mark.parametrize(
    ("raw", "task", "classes", "y"),
    [
        (["3", "1", "3", "10"], "auto", [1, 3, 10], [1, 0, 1, 2]),  # integers: classes, sorted as numbers
        (["1.0", "0.0", "1"], "auto", [0, 1], [1, 0, 1]),
        (["0.5", "1.25", "2"], "auto", None, [0.5, 1.25, 2.0]),  # fractions: regression
        (["3", "1", "2"], "regression", None, [3.0, 1.0, 2.0]),
        (["b", "a", "b"], "classification", ["a", "b"], [1, 0, 1]),
    ],
)
def test_labels(raw, task, classes, y):
    values, found = data.encode_labels(np.array(raw), task)
    assert found == classes and values.tolist() == y
    if classes is not None:
        assert data.labels_to_indices(np.array(raw), classes).tolist() == y


def test_labels_the_model_does_not_know_are_refused():
    assert data.labels_to_indices(np.array(["2", "1.0"]), [1, 2]).tolist() == [1, 0]
    with pytest.raises(DataError, match="labels fish are not classes of the model"):
        data.labels_to_indices(np.array(["cat", "fish"]), ["cat", "dog"])
    with pytest.raises(DataError, match=r"^task regression needs numeric targets.*use task= auto"):
        data.encode_labels(np.array(["a", "b"]), "regression")


@pytest.mark.parametrize(
    ("text", "target", "message"),
    [
        ("a,b,y\n1,red,0\n2,3,1\n", None, r"line 2: column 'b' is not a number \('red'\).*encode or drop"),
        ("a,b,y\n1,2,0\n2,,1\n", None, "line 3: column 'b' is empty"),
        ("a,b,y\n1,nan,0\n2,3,1\n", None, "line 2: column 'b' is 'nan': NaN and inf"),
        ("a,b,y\n1,2,0\n-inf,3,1\n", None, "line 3: column 'a' is '-inf'"),
        (
            "a,b,y\n1,2,0\n2,3,1\n",
            "label",
            r"^target 'label' is not a column of .*\(columns: a, b, y\): choose",
        ),
        ("a,b,y\n1,2,0\n2,3\n", None, "line 3: 2 values but the header has 3 columns"),
        ("a,b,y\n", None, "no data rows"),
        ("a,a,y\n1,2,0\n", None, "the header has two columns named 'a'"),
        (",,y\n1,2,0\n", None, "the header has two columns with no name"),
        ("y\n1\n", None, "only the target column"),
        ("a,y\n\n1,\n2,1\n", None, r"bad\.csv, line 3: the target column 'y' is empty"),  # file lines
        # a trailing comma in the header: a nameless last column, not "the target of row 1 is empty"
        ("a,b,y,\n1,2,0,\n2,3,1,\n", None, r"bad\.csv: the header's last column has no name .*target="),
        ("a,y\n1,0.5\n2,nan\n", None, r"bad\.csv, line 3: the target column 'y' is 'nan': NaN and inf"),
        (
            'a,b,y\n0.1,0.2,12" pipe\n0.3,0.4,ok\n0.5,0.6,3" tube\n',
            None,
            r"bad\.csv, line 2: the quote \(\"\) in the value '12\" pipe' is unbalanced.*line 4\).*doubled",
        ),
        (
            'a,y\n0.1,ok\n0.2,3" tube\n',
            None,
            r"line 3: the quote \(\"\) in the value '3\" tube' is never closed",
        ),
    ],
)
def test_bad_csv_files_are_named_with_the_fix(tmp_path, text, target, message):
    path = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=message):
        data.load(str(path), target=target)


def test_csv_that_is_not_text(tmp_path):
    (tmp_path / "x.csv").write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(DataError, match="not a readable CSV"):
        data.read_csv(tmp_path / "x.csv")
    with pytest.raises(DataError, match=r"no such file: .*nope\.csv: check the path"):
        data.load(str(tmp_path / "nope.csv"))


# ---------------------------------------------------------------------- splits and standardising
def test_splits_are_disjoint_stratified_and_seeded():
    y = np.repeat([0, 1, 2], [40, 80, 120])
    train, val, test = data.split_indices(y, 0.25, 0.2, seed=3)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(240))
    assert np.bincount(y[test]).tolist() == [10, 20, 30]
    assert np.bincount(y[val]).tolist() == [6, 12, 18]
    again = data.split_indices(y, 0.25, 0.2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=True))
    assert not np.array_equal(data.split_indices(y, 0.25, 0.2, seed=4)[2], test)


def test_the_standardiser_is_fitted_on_training_rows_and_travels_in_metadata():
    rng = np.random.default_rng(0)
    X = rng.normal([5.0, -2.0, 7.0], [3.0, 0.5, 0.0], size=(200, 3))
    s = data.Standardizer.fit(X)
    np.testing.assert_allclose(s.mean, X.mean(axis=0))
    np.testing.assert_allclose(s.scale, [X[:, 0].std(), X[:, 1].std(), 1.0])  # a constant feature: 1
    Z = s(X)
    np.testing.assert_allclose(Z[:, :2].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :2].std(axis=0), 1)
    meta = {"standardize": s.to_metadata()}
    np.testing.assert_array_equal(data.standardize(X, meta), Z)
    assert data.standardize(X, {}) is X
    one = data.Standardizer.fit(X, per_feature=False)
    assert len(set(one.mean.tolist())) == 1 and one.mean[0] == pytest.approx(X.mean())
    with pytest.raises(DataError, match="does not fit its 2 inputs"):
        data.standardize(X[:, :2], meta)
    with pytest.raises(DataError, match=r"not \{mean"):
        data.standardize(X, {"standardize": {"mean": [0, 0, 0]}})


def test_named_data_sets():
    ds = data.load("digits", val_fraction=0.1, test_fraction=0.25, seed=0)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (1211, 136, 450)
    assert ds.classes == list(range(10)) and ds.images and ds.n_features == 64
    assert ds.metadata() == {"task": "classification", "classes": list(range(10))}
    ds = data.load("spiral", samples=300, noise=0.0, classes=3, val_fraction=0.0, test_fraction=0.2)
    assert ds.classes == [0, 1, 2] and len(ds.y_val) == 0 and len(ds.y_test) == 60
    assert ds.feature_names == ["x1", "x2"] and not ds.images
    ds = data.load("plane", samples=100)
    assert ds.task == "regression" and ds.y_train.dtype == np.float64
    with pytest.raises(DataError, match="unknown data set 'mnist': use one of digits, fashion-mnist"):
        data.load("mnist")
    with pytest.raises(DataError, match=r"^val_fraction must lie in \[0, 1\), got 1.0"):
        data.load("xor", val_fraction=1.0)
    with pytest.raises(DataError, match="xor has 2 classes"):
        data.load("xor", classes=3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samples": 0}, r"^samples must be a positive integer, got 0$"),
        ({"data": "fashion-mnist", "samples": -3}, r"^samples must be a positive integer, got -3$"),
        ({"val_fraction": -0.1}, r"^val_fraction must lie in \[0, 1\), got -0.1: e.g. 0.2$"),
        ({"test_fraction": 0.0}, r"^test_fraction must lie in \(0, 1\), got 0.0: e.g. 0.2$"),
        ({"task": "clustering"}, r"^task must be one of auto, classification, regression, got 'clustering'$"),
        (
            {"data": "xor", "classes": 3},
            r"^xor has 2 classes, got classes=3: choose other samples=, noise= or",
        ),
    ],
)
def test_library_errors_name_library_arguments(kwargs, message):
    """The name of the argument comes first, bare, or as ``name=`` later: never a flag."""
    with pytest.raises(DataError, match=message) as error:
        data.load(**{"data": "spiral", **kwargs})
    assert "--" not in str(error.value)


# ------------------------------------------------------------------------- the data held once
def _peak_mib(f):
    """(result, peak MiB of the memory allocated while f runs: NumPy reports to tracemalloc)."""
    tracemalloc.start()
    try:
        result = f()
        return result, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_the_standardiser_makes_no_float64_copy_of_the_pixels():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (20000, 784), dtype=np.uint8)  # 15 MiB; float32 60 MiB, float64 120 MiB
    s, peak = _peak_mib(lambda: data.Standardizer.fit(X, per_feature=False))
    assert peak < 20  # blocks of 8 MiB; X.std(dtype=float64) made a float64 copy of X: 120 MiB
    assert s.mean[0] == pytest.approx(X.mean(dtype=np.float64), rel=1e-13)
    assert s.scale[0] == pytest.approx(X.std(dtype=np.float64), rel=1e-12)
    Z, peak = _peak_mib(lambda: s(X, dtype=np.float32))
    assert Z.dtype == np.float32 and Z.shape == X.shape
    assert 59.8 < peak < 60.0 + 9  # the result and a block, no float64 temporary of all of X
    expected = (X.astype(np.float64) - s.mean[0]) / s.scale[0]
    np.testing.assert_allclose(Z, expected, rtol=1e-6, atol=1e-6)
    per_feature = data.Standardizer.fit(X)
    np.testing.assert_allclose(per_feature.mean, X.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(per_feature.scale, X.std(axis=0), rtol=1e-12)
    assert s(X[:3]).dtype == np.float64  # integers: float64 by default, as before
    assert s(X[:3].astype(np.float32)).dtype == np.float32
    with pytest.raises(DataError, match=r"^dtype must be a floating-point type"):
        s(X, dtype=np.int32)
    with pytest.raises(DataError, match="at least one training row"):
        data.Standardizer.fit(X[:0])


def test_fashion_mnist_is_held_as_uint8_and_split_without_float_copies(tmp_path):
    arrays = fixture_set(tmp_path, n_train=200, n_test=50)
    ds = data.load("fashion-mnist", data_dir=tmp_path, val_fraction=0.0)
    assert ds.X_train.dtype == ds.X_test.dtype == np.uint8 and ds.X_train.shape == (200, 784)
    np.testing.assert_array_equal(ds.X_train, arrays[FILES[0]].reshape(200, -1))
    assert ds.X_train.base is not None and ds.X_train.flags.writeable  # a view of the array read
    ds = data.load("fashion-mnist", data_dir=tmp_path, val_fraction=0.1, seed=0)
    assert ds.X_train.dtype == ds.X_val.dtype == np.uint8 and len(ds.y_train) + len(ds.y_val) == 200
    s = ds.standardizer()
    X = s(ds.X_train, dtype=np.float32)
    assert X.dtype == np.float32 and abs(float(X.mean())) < 0.05 and abs(float(X.std()) - 1) < 0.05


# ------------------------------------------------------------------ damaged Fashion-MNIST files
def test_damaged_idx_files_are_refused_with_one_line(tmp_path):
    path = write_idx(tmp_path / "a.gz", np.zeros((50, 28, 28), dtype=np.uint8))
    whole = path.read_bytes()
    for name, raw in {
        "cut.gz": whole[: len(whole) // 2],  # truncated gzip: EOFError before
        "header-only.gz": whole[:10],
        "corrupt.gz": whole[:20] + bytes(b ^ 0xFF for b in whole[20:40]) + whole[40:],  # zlib.error
    }.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(DataError, match=rf"{name} is (truncated|a damaged gzip file)"):
            data.read_idx(tmp_path / name)
    huge = bytes([0, 0, 0x08, 3]) + np.array([2**31, 2**16, 2**16], dtype=">u4").tobytes() + bytes(100)
    for name, raw in {"huge": huge, "huge.gz": gzip.compress(huge)}.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(DataError, match=r"declares \(2147483648, 65536, 65536\) values, more than"):
            data.idx_header(tmp_path / name)


def test_float_labels_and_too_few_labels_are_refused(tmp_path):
    fixture_set(tmp_path)
    labels = np.array([0.9, 1.5, 9.7] * 4, dtype=">f4")
    raw = bytes([0, 0, 0x0D, 1]) + np.array([12], dtype=">u4").tobytes() + labels.tobytes()
    (tmp_path / FILES[1]).write_bytes(gzip.compress(raw))  # truncated to 0, 1, 9 before
    with pytest.raises(DataError, match="training labels are float32 numbers, not integers"):
        data.load_fashion_mnist(tmp_path)
    write_idx(tmp_path / FILES[1], np.arange(10, dtype=np.uint8))  # 12 images, 10 labels
    with pytest.raises(DataError, match="hold 12 images but 10 labels"):
        data.load("fashion-mnist", data_dir=tmp_path, samples=5)  # only 5 read: undetected before


def test_a_gzip_file_without_its_trailer_is_refused(tmp_path):
    """Every byte of the labels is there, but not the gzip stream's CRC and length: read to its
    end, the file is refused as damaged instead of being taken on trust."""
    fixture_set(tmp_path / "fm")
    path = tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(DataError, match="is a damaged gzip file"):
        data.load("fashion-mnist", data_dir=tmp_path / "fm")


def test_a_changed_byte_inside_the_gzip_stream_fails_its_crc(tmp_path):
    """A located file is not checked against the official SHA-256 (Debian's package recompresses
    the files), but every read of a whole file checks the gzip CRC-32: one flipped pixel in a
    stored (uncompressed) block, which inflates without error, is refused."""
    fixture_set(tmp_path / "fm")
    path = tmp_path / "fm" / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=0))
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz is a damaged gzip file"):
        data.load("fashion-mnist", data_dir=tmp_path / "fm")
