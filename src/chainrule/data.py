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
from collections.abc import Callable, Sequence
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
    load_csv,
    numeric,
    read_csv,
    read_rows,
)
from chainrule.idx import idx_header, read_idx
from chainrule.preprocessing import (  # noqa: F401  (the preprocessing, used through this module)
    TASKS,
    Standardizer,
    encode_labels,
    labels_to_indices,
    split_indices,
    standardize,
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
MAX_TOY_SAMPLES = 10_000_000  # 160 MB of float64 points


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


def check_split(
    name: str,
    y: Array,
    labels: list[Any] | None,
    test_fraction: float,
    n_train: int,
    n_test: int,
    val_fraction: float = 0.0,
) -> None:
    """Refuse a split without training or test rows, saying why: too few rows, classes too small
    for a split stratified by class, or fractions (test, then validation of the rest) that leave
    nothing on one side."""
    if n_train and n_test:
        return
    side = "training" if not n_train else "test"
    held = f"test_fraction={test_fraction:g}"
    fix = "another test_fraction="
    if not n_train and val_fraction:  # the validation rows come out of the training rows
        held += f" and val_fraction={val_fraction:g}"
        fix = "a smaller test_fraction= or val_fraction="
    if labels is not None:  # split class by class: no class put a row on that side
        largest = int(np.bincount(y).max())
        k = len(labels)
        raise DataError(
            f"{name} has {k} class{'es' if k != 1 else ''} of at most {largest} row(s): each class is "
            f"split into training and test rows, and with {held} none puts a row in the {side} rows; "
            f"give more rows per class, {fix}, or task=regression if the target is a number"
        )
    raise DataError(
        f"{name} has {len(y)} rows and {held}: that leaves no {side} rows; give more rows or {fix}"
    )


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
        if samples is not None and samples > MAX_TOY_SAMPLES:
            raise DataError(f"samples must be at most {MAX_TOY_SAMPLES:,} points for a toy, got {samples:,}")
        try:
            X, raw = toy(data, 400 if samples is None else samples, noise, seed, classes)
        except ValueError as e:
            raise DataError(f"{e}: choose other samples=, noise= or classes=") from None
        names = ["x1", "x2"]
        task = "regression" if data in REGRESSION else task
    elif is_csv(data):
        X, raw, names, target_name = load_csv(data, target, 0, samples)
    elif Path(data).is_dir():
        raise DataError(
            f"{data} is a folder, not a data set: name a .csv file in it, or, if it holds "
            f"Fashion-MNIST's files, data='fashion-mnist' data_dir={data}"
        )
    else:
        raise DataError(
            f"unknown data set {data!r}: use one of {', '.join(DATASETS)}, or a path to a .csv file"
        )
    y, labels = encode_labels(raw, task)
    test_fraction = check_fraction(test_fraction, "test_fraction", low_ok=False)
    tr, va, te = split_indices(y, test_fraction, val_fraction, seed, stratify=labels is not None)
    check_split(data, y, labels, test_fraction, len(tr), len(te), val_fraction)
    return Dataset(data, X[tr], y[tr], X[va], y[va], X[te], y[te], labels, names, target_name, images)
