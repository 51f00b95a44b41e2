"""Data sets for the command line: the handwritten digits, Fashion-MNIST, the 2-D toys and CSV
files, split into training, validation and test rows, and the standardiser

    x' = (x − mean) / scale

fitted on the training rows only and stored in ``network.metadata["standardize"]``, so that
whoever predicts from a model file applies the same transformation first (`standardize`).

Fashion-MNIST is read from its four IDX gzip files: from ``data_dir`` when one is given (and
only from there), else from ``$CHAINRULE_DATA``, then ``/usr/share/datasets/fashion-mnist``
(Debian's package ``dataset-fashion-mnist``), then the user cache; failing all of them it is
downloaded from the official source into the user cache, each file's SHA-256 verified before it
is kept.

Errors are `DataError`s naming the library's arguments (``data_dir``, ``samples``,
``val_fraction``, ``target``, ...): first and bare where the argument is at fault (``samples
must be ...``), as ``name=`` elsewhere (``choose other samples=``), so that a face can put its
own spelling (``--samples``) in their place.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.datafiles import (  # noqa: F401  (the data files' readers, used through this module)
    CsvRows,
    DataError,
    RaggedRowError,
    _is_number,
    features_and_target,
    idx_header,
    load_csv,
    numeric,
    read_csv,
    read_idx,
    read_rows,
)
from chainrule.toys import REGRESSION, TOYS, toy

Array = np.ndarray
Report = Callable[[str, int, int], None]  # (file name, bytes done, bytes in all or 0)

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_SHA256 = {  # the official gzip files (github.com/zalandoresearch/fashion-mnist)
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
SYSTEM_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("digits", "fashion-mnist", *TOYS)
TASKS = ("auto", "classification", "regression")


# ----------------------------------------------------------------------------- Fashion-MNIST
def _default_cache() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("chainrule")) / "fashion-mnist"


def _candidates() -> list[Path]:
    """Where the files are looked for when no data_dir is given: $CHAINRULE_DATA (and a
    fashion-mnist folder in it), then the Debian package's folder."""
    root = os.environ.get("CHAINRULE_DATA") or None
    dirs = [] if root is None else [Path(root), Path(root) / "fashion-mnist"]
    return [*dirs, SYSTEM_DATA_DIR]


def _complete(folder: Path, names: Sequence[str]) -> dict[str, Path] | None:
    """The four files in ``folder``, gzip-compressed or not, or None if any is missing."""
    found = {}
    for name in names:
        for candidate in (folder / name, folder / name.removesuffix(".gz")):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            return None
    return found


def _in_data_dir(root: Path, names: Sequence[str]) -> dict[str, Path]:
    """The files in the folder the user named (or its fashion-mnist subfolder), or a DataError
    saying what is wrong with it: a folder the user names is used or refused, never replaced."""
    for folder in (root, root / "fashion-mnist"):
        found = _complete(folder, names)
        if found is not None:
            return found
    fix = (
        f"put the Fashion-MNIST files ({', '.join(names)}; gzip-compressed or not) in it or in its "
        f"fashion-mnist subfolder, or give no data_dir= to use $CHAINRULE_DATA, {SYSTEM_DATA_DIR} or "
        "the download cache"
    )
    if not root.is_dir():
        problem = "is not a folder" if root.exists() else "does not exist"
        raise DataError(f"data_dir {root} {problem}: {fix}")

    def present(folder: Path) -> int:
        return sum((folder / n).exists() or (folder / n.removesuffix(".gz")).exists() for n in names)

    folder = root / "fashion-mnist"
    folder = folder if folder.is_dir() and present(folder) > present(root) else root
    missing, not_files = [], []
    for name in names:
        paths = [folder / name, folder / name.removesuffix(".gz")]
        there = [p for p in paths if p.exists()]
        if not there:
            missing.append(name)
        elif not any(p.is_file() for p in there):
            not_files.append(there[0].name)
    problems = ([f"lacks {', '.join(missing)}"] if missing else []) + (
        [f"has {', '.join(not_files)} but not as a file"] if not_files else []
    )
    where = f"data_dir {root}" + (" (its fashion-mnist subfolder)" if folder != root else "")
    raise DataError(f"{where} {' and '.join(problems)}: {fix}")


def download(url: str, dest: Path, sha256: str, report: Report | None = None, timeout: float = 60) -> Path:
    """Fetch ``url`` into ``dest``, keeping it only if its SHA-256 is ``sha256``.

    The bytes go to a temporary file beside ``dest``, renamed into place once verified: a failed
    or corrupted download leaves nothing behind."""
    if not url.startswith(("http://", "https://")):
        raise DataError(f"refusing to download {url!r}: only http(s) URLs are fetched")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        digest, done = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0)
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
                done += len(chunk)
                if report is not None:
                    report(dest.name, done, total)
        if digest.hexdigest() != sha256:
            raise DataError(
                f"downloaded {url} has SHA-256 {digest.hexdigest()}, expected {sha256}: the download "
                "is corrupted or the file changed at the source; try again, or put the original "
                "files in a folder given as data_dir="
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as e:
        http = isinstance(e, urllib.error.HTTPError)
        reason = f"HTTP {e.code} {e.reason}" if http else getattr(e, "reason", e)
        raise DataError(
            f"could not download {url} ({reason}): check the network connection, "
            "or install Debian's dataset-fashion-mnist, or put the four files in a folder given as data_dir="
        ) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def fashion_mnist_files(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    search: Sequence[Path] | None = None,
    cache_dir: Path | None = None,
    base_url: str = FASHION_MNIST_URL,
    sha256: dict[str, str] | None = None,
    report: Report | None = None,
) -> dict[str, Path]:
    """The paths of the four Fashion-MNIST files.

    ``data_dir`` given: from it or its fashion-mnist subfolder, else a `DataError` (a folder the
    user names is never replaced by another). Otherwise from the first folder that has all of
    them (``search``, by default $CHAINRULE_DATA, /usr/share/datasets/fashion-mnist, then the
    cache), or downloaded into the cache with their SHA-256 verified."""
    sha256 = FASHION_MNIST_SHA256 if sha256 is None else sha256
    if data_dir is not None:
        return _in_data_dir(Path(data_dir), list(sha256))
    cache = _default_cache() if cache_dir is None else Path(cache_dir)
    for folder in [*(_candidates() if search is None else search), cache]:
        found = _complete(Path(folder), list(sha256))
        if found is not None:
            return found
    files = {}
    for name, digest in sha256.items():  # a file verified on an earlier, interrupted run is kept
        path = cache / name
        files[name] = path if path.is_file() else download(base_url + name, path, digest, report)
    return files


def load_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None, train_rows: int | None = None, **find: Any
) -> tuple[Array, Array, Array, Array]:
    """X_train (60000, 784), y_train, X_test (10000, 784), y_test: pixels 0..255 as uint8 (as in
    the files: a quarter of float32; `Standardizer` converts them), labels 0..9
    (`FASHION_MNIST_CLASSES`). ``train_rows`` reads only the first rows of the training files.
    ``find`` goes to `fashion_mnist_files`."""
    files = fashion_mnist_files(data_dir, **find)
    arrays = []
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        arrays.append(read_idx(files[name], 0, train_rows))
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        arrays.append(read_idx(files[name]))
    X_train, y_train, X_test, y_test = arrays
    n_images, n_labels = (
        idx_header(files[f"train-{k}-idx{d}-ubyte.gz"])[1][0] for k, d in (("images", 3), ("labels", 1))
    )
    if n_images != n_labels:  # also when only the first train_rows of each were read
        raise DataError(
            f"the Fashion-MNIST training files hold {n_images} images but {n_labels} labels: replace "
            "them with the original files"
        )
    check_fashion_mnist(X_train.shape, y_train, "training")
    check_fashion_mnist(X_test.shape, y_test, "test")
    return (
        X_train.reshape(len(X_train), -1),  # views: the pixels are read once, into these arrays
        y_train.astype(np.intp),
        X_test.reshape(len(X_test), -1),
        y_test.astype(np.intp),
    )


def check_fashion_mnist(images: tuple[int, ...], y: Array, what: str) -> None:
    """Refuse files that do not hold 28x28 images (``images`` is their shape) with one label 0..9
    each (integers: a file of float labels is not truncated into classes)."""
    if y.dtype.kind not in "iu":
        raise DataError(
            f"the Fashion-MNIST {what} labels are {y.dtype} numbers, not integers 0..9: replace the "
            "labels file with the original"
        )
    bad = len(y) and (y.min() < 0 or y.max() > 9)
    if len(images) != 3 or images[1:] != (28, 28) or y.ndim != 1 or images[0] != len(y) or bad:
        raise DataError(
            f"the Fashion-MNIST {what} files hold images {images} and labels {y.shape}, not 28x28 "
            "images with one label 0..9 each: replace them with the original files"
        )


# ------------------------------------------------------------------------------------- labels
def encode_labels(raw: Array, task: str = "auto") -> tuple[Array, list[Any] | None]:
    """Class labels as indices 0..K−1 and the sorted classes (ints if every label is an integer,
    else strings), or, for regression, the float values and None.

    ``task="auto"`` takes numbers with a fractional part as regression targets and anything
    else (integers, words) as class labels."""
    if task not in TASKS:
        raise DataError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    raw = np.asarray(raw)
    if raw.dtype.kind in "US":
        if (np.char.str_len(raw) == 0).any():
            r = int(np.argmax(np.char.str_len(raw) == 0))
            raise DataError(f"the target of row {r + 1} is empty: fill in or remove rows without a target")
        numbers = all(_is_number(v) for v in np.unique(raw))
        values = raw.astype(np.float64) if numbers else None
    else:
        values = raw.astype(np.float64)
    if values is not None and not np.isfinite(values).all():
        raise DataError("the target holds NaN or inf: remove or impute those rows")
    integral = values is not None and bool((values == np.round(values)).all())
    if task == "regression" or (task == "auto" and values is not None and not integral):
        if values is None:
            raise DataError(
                "task regression needs numeric targets, but the target holds words: "
                "use task= auto or classification"
            )
        return values, None
    if integral:
        classes, y = np.unique(values.astype(np.int64), return_inverse=True)
        return y.astype(np.intp), [int(c) for c in classes]
    classes, y = np.unique(raw, return_inverse=True)
    return y.astype(np.intp), [str(c) for c in classes]


def labels_to_indices(raw: Array, classes: Sequence[Any]) -> Array:
    """Original labels (as read from a file: strings or numbers) as indices into ``classes``."""
    lookup = {str(c): k for k, c in enumerate(classes)}
    keys = [str(v).strip() for v in np.asarray(raw).tolist()]
    unknown = sorted({k for k in keys if k not in lookup and _as_int(k) not in lookup})
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise DataError(
            f"labels {shown} are not classes of the model ({', '.join(map(str, classes))}): "
            "evaluate on data with the classes it was trained on"
        )
    return np.array([lookup.get(k, lookup.get(_as_int(k))) for k in keys], dtype=np.intp)


def _as_int(key: str) -> str:
    """'3.0' → '3': an integer label written as a float."""
    try:
        value = float(key)
    except ValueError:
        return key
    return str(int(value)) if value.is_integer() else key


# ------------------------------------------------------------------------------ standardising
@dataclass(frozen=True)
class Standardizer:
    """x' = (x − mean) / scale, per feature. ``scale`` is the standard deviation on the training
    rows (1 where a feature is constant)."""

    mean: Array
    scale: Array

    @classmethod
    def fit(cls, X: Array, per_feature: bool = True) -> Standardizer:
        """Fitted on the training rows; ``per_feature=False`` uses one mean and one scale for all
        features (pixels of images: a nearly blank border pixel is not blown up). Two passes of
        float64 sums over blocks of rows (no float64 copy of X, which ``X.std`` would make):

            mean = Σ_n x_n / N        scale² = Σ_n (x_n − mean)² / N"""
        X = np.asarray(X)
        axis = 0 if per_feature else None
        n = len(X) if per_feature else X.size
        if n == 0:
            raise DataError("the standardiser needs at least one training row: give more rows")
        total = sum((X[b].sum(axis=axis, dtype=np.float64) for b in _blocks(X)), np.zeros(()))
        mean = total / n
        squares = np.zeros_like(mean)
        for b in _blocks(X):
            deviation = np.subtract(X[b], mean, dtype=np.float64)
            squares += np.square(deviation, out=deviation).sum(axis=axis)
        return cls.from_moments(mean, np.sqrt(squares / n), X.shape[1:])

    @classmethod
    def from_moments(cls, mean: Any, std: Any, shape: tuple[int, ...]) -> Standardizer:
        """From the mean and standard deviation (per feature, or one of each for all features)
        spread to the features' ``shape``; the scale is 1 where the standard deviation is ~0."""
        mean, std = np.broadcast_to(mean, shape).copy(), np.broadcast_to(std, shape).copy()
        return cls(mean, np.where(std > 1e-12, std, 1.0))

    def __call__(self, X: Array, dtype: Any = None) -> Array:
        """x' = (x − mean) / scale as a new array of ``dtype`` (by default X's precision, float64
        for integer X), computed block by block: the result is the only array of X's size made
        (uint8 pixels to float32 take 4 bytes a value, never 8)."""
        X = np.asarray(X)
        if dtype is None:
            dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise DataError(f"dtype must be a floating-point type such as float32, got {dtype}")
        mean, scale = self.mean.astype(dtype), self.scale.astype(dtype)
        out = np.empty(X.shape, dtype=dtype)
        for b in _blocks(X):
            np.subtract(X[b], mean, out=out[b], dtype=dtype)
            out[b] /= scale
        return out

    def to_metadata(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_metadata(cls, entry: Any, n_features: int) -> Standardizer:
        try:
            mean = np.asarray(entry["mean"], dtype=np.float64)
            scale = np.asarray(entry["scale"], dtype=np.float64)
        except (TypeError, KeyError, ValueError):
            raise DataError("the model's standardize entry is not {mean: [...], scale: [...]}") from None
        if mean.shape != (n_features,) or scale.shape != (n_features,) or not (scale > 0).all():
            raise DataError(
                f"the model's standardize entry does not fit its {n_features} inputs: the file is damaged"
            )
        return cls(mean, scale)


def _blocks(X: Array, values: int = 1 << 20) -> Iterator[slice]:
    """Slices of about ``values`` values of X along its first axis (at least one row each)."""
    rows = max(1, values // max(1, int(np.prod(X.shape[1:], dtype=np.int64))))
    return (slice(start, start + rows) for start in range(0, len(X), rows))


def standardize(X: Array, metadata: dict[str, Any]) -> Array:
    """Apply a model file's ``metadata["standardize"]`` (if any) to raw features X."""
    entry = metadata.get("standardize")
    if entry is None:
        return X
    return Standardizer.from_metadata(entry, np.shape(X)[1])(X)


# ------------------------------------------------------------------------------------ splits
def split_indices(
    y: Array, test_fraction: float, val_fraction: float, seed: int | None, stratify: bool = True
) -> tuple[Array, Array, Array]:
    """Train, validation and test row indices: ``test_fraction`` of all rows for testing,
    ``val_fraction`` of the rest for validation, per class when ``stratify``."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    groups = [order[y[order] == c] for c in np.unique(y)] if stratify else [order]
    parts: tuple[list[Array], list[Array], list[Array]] = ([], [], [])
    for g in groups:
        n_test = round(len(g) * test_fraction)
        n_val = round((len(g) - n_test) * val_fraction)
        parts[0].append(g[n_test + n_val :])
        parts[1].append(g[n_test : n_test + n_val])
        parts[2].append(g[:n_test])
    return tuple(np.sort(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


# ----------------------------------------------------------------------------------- data sets
@dataclass
class Dataset:
    """Raw (unstandardised) training, validation and test rows of one data set."""

    name: str
    X_train: Array
    y_train: Array
    X_val: Array
    y_val: Array
    X_test: Array
    y_test: Array
    classes: list[Any] | None  # None: regression targets
    feature_names: list[str] | None = None
    target: str | None = None
    images: bool = False  # features are pixels of one scale

    @property
    def task(self) -> str:
        return "regression" if self.classes is None else "classification"

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    def standardizer(self) -> Standardizer:
        """Fitted on the training rows only."""
        return Standardizer.fit(self.X_train, per_feature=not self.images)

    def metadata(self) -> dict[str, Any]:
        """The model-file metadata of a network trained on this data (without ``standardize``)."""
        meta: dict[str, Any] = {"task": self.task}
        if self.classes is not None:
            meta["classes"] = self.classes
        if self.feature_names is not None:
            meta["feature_names"] = self.feature_names
        if self.target is not None:
            meta["target"] = self.target
        return meta


def check_fraction(value: float, what: str, low_ok: bool) -> float:
    """``value`` as a float in (0, 1), or [0, 1) with ``low_ok``; else a DataError naming ``what``."""
    if not (0 <= value < 1 if low_ok else 0 < value < 1):
        interval = "[0, 1)" if low_ok else "(0, 1)"
        raise DataError(f"{what} must lie in {interval}, got {value}: e.g. 0.2")
    return float(value)


def is_csv(data: str) -> bool:
    return data.lower().endswith(".csv") or (data not in DATASETS and Path(data).is_file())


def load(
    data: str = "digits",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    target: str | None = None,
    task: str = "auto",
    samples: int | None = None,
    noise: float = 0.1,
    classes: int = 2,
    seed: int | None = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.25,
    **find: Any,
) -> Dataset:
    """The data set ``data`` (a name of `DATASETS` or a path to a .csv file), split.

    ``samples`` is the number of points of a toy, or else how many rows to use (the first ones;
    Fashion-MNIST keeps its 10000 test images). ``test_fraction`` applies where the data set has
    no test split of its own; ``val_fraction`` is the part of the training rows held out for
    validation. Splits of class labels are stratified. ``find`` goes to `fashion_mnist_files`.
    """
    val_fraction = check_fraction(val_fraction, "val_fraction", low_ok=True)
    if samples is not None and samples < 1:
        raise DataError(f"samples must be a positive integer, got {samples}")
    first = slice(None, samples)
    names: list[str] | None = None
    target_name: str | None = None
    images = False
    if data == "fashion-mnist":
        X_train, y_train, X_test, y_test = load_fashion_mnist(data_dir, train_rows=samples, **find)
        tr, va, _ = split_indices(y_train, 0.0, val_fraction, seed)
        return Dataset(
            data,
            X_train if len(tr) == len(X_train) else X_train[tr],  # all rows (sorted): no copy
            y_train[tr],
            X_train[va],
            y_train[va],
            X_test,
            y_test,
            list(FASHION_MNIST_CLASSES),
            images=True,
        )
    if data == "digits":
        from sklearn.datasets import load_digits

        X, raw = load_digits(return_X_y=True)
        X, raw, images = X[first], raw[first], True
    elif data in TOYS:
        try:
            X, raw = toy(data, 400 if samples is None else samples, noise, seed, classes)
        except ValueError as e:
            raise DataError(f"{e}: choose other samples=, noise= or classes=") from None
        names = ["x1", "x2"]
        task = "regression" if data in REGRESSION else task
    elif is_csv(data):
        X, raw, names, target_name = load_csv(data, target, 0, samples)
    else:
        raise DataError(
            f"unknown data set {data!r}: use one of {', '.join(DATASETS)}, or a path to a .csv file"
        )
    y, labels = encode_labels(raw, task)
    test_fraction = check_fraction(test_fraction, "test_fraction", low_ok=False)
    tr, va, te = split_indices(y, test_fraction, val_fraction, seed, stratify=labels is not None)
    if len(tr) == 0 or len(te) == 0:
        raise DataError(
            f"{data} has {len(y)} rows, too few to split into training and test rows: give more rows"
        )
    return Dataset(data, X[tr], y[tr], X[va], y[va], X[te], y[te], labels, names, target_name, images)
