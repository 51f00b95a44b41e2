"""Safe files: written atomically, read without trusting a byte of them.

Writing (`atomic_write`): the bytes go to a temporary file in the target's own directory, which is
flushed to disk (fsync), renamed over the target (one atomic step) and the directory is flushed
too. After a crash, a ``kill -9`` or a full disk the target is the old file or the new one, never
a mix of the two, and no temporary file is left behind by an error.

Reading (`SafetensorsFile`): a safetensors file is an 8-byte little-endian header length N, N
bytes of JSON (each tensor's dtype, shape and byte range, and string metadata), then the raw
bytes. The header is checked here before the safetensors library sees the file: every size is
bounded by the file's own size (a hostile file cannot make us allocate more than it holds), the
byte ranges tile the data exactly, only the dtypes the caller expects pass, and a file that
carries a checksum (SHA-256 of its metadata and tensors) must match it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import secrets
import stat
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.base import Array
from chainrule.network import Network

try:
    import fcntl
except ImportError:  # Windows: no flock; every temporary file is taken for a torn one
    fcntl = None  # type: ignore[assignment]

MAX_HEADER = 32 * 2**20  # bytes of JSON header: room for long class and feature name lists
MAX_LAYERS = 10_000  # layers in a network description
DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}


_NO_ROOM = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}  # disk, file size, quota


class ModelFileError(ValueError):
    """The file is not one this version of chainrule wrote and can read."""


def writable(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """The regular file a write to ``path`` lands in, checked before anything is written: a
    symlink's target (the bytes go where the link points, as a shell's ``>`` sends them, and the
    link stays), an existing file only with ``overwrite=True``, never a directory, a device, a
    pipe or a socket, which a rename would replace with a regular file."""
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))  # a dangling link: the file it names, made
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise FileNotFoundError(f"directory {path.parent} does not exist: create it first") from None
        return path
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{path} is a directory: give a file name")
    if not stat.S_ISREG(mode):
        raise FileExistsError(
            f"{path} is not a regular file (a device, a pipe or a socket): give a file's path"
        )
    if not overwrite:
        raise FileExistsError(f"{path} exists: pass overwrite=True to replace it, or choose another path")
    return path


def atomic_write(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` (`writable`) all or nothing: temporary file, fsync, rename, fsync
    directory. A replaced file keeps its permission bits (and, where allowed, its owner)."""
    path = writable(path, overwrite)
    old = path.stat() if path.exists() else None
    remove_torn(path)  # what a writer killed before left beside it
    for attempt in range(3):
        try:
            _write_and_rename(path, data, old)
            break
        except FileNotFoundError:  # a concurrent writer's `remove_torn` took the temporary file
            if attempt == 2:  # in the instant between its creation and its lock: write it again
                raise
    _fsync_directory(path.parent)
    return path


def _write_and_rename(path: Path, data: bytes, old: os.stat_result | None) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:  # created as open() would create it (mode 0o666 less the umask), and only by us
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        raise type(e)(
            e.errno, f"cannot write in {path.parent} ({e.strerror}): choose a directory you can write to"
        ) from None
    try:
        try:
            _hold(fd)  # a live write: a concurrent writer's `remove_torn` leaves it alone
            if old is not None:
                _keep_mode(fd, old)
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            os.replace(tmp, path)
        finally:
            os.close(fd)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno in _NO_ROOM:
            raise type(e)(
                e.errno,
                f"could not write {path} ({e.strerror}); nothing was changed: make room, or write elsewhere",
            ) from None
        raise


def remove_torn(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that `atomic_write` calls to ``path`` left when killed in the
    middle (``.NAME.<12 hex digits>.tmp`` beside it that no live writer locks); returns them."""
    path = Path(path)
    torn = []
    for p in path.parent.glob(f".{path.name}.*.tmp"):
        if _TEMPORARY.fullmatch(p.name[len(path.name) + 2 :]) and _abandoned(p):
            p.unlink(missing_ok=True)
            torn.append(p)
    return torn


def _hold(fd: int) -> None:
    """An exclusive lock on the temporary file, released by the kernel when its writer ends."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits out a `remove_torn` that holds it for an instant


def _abandoned(p: Path) -> bool:
    """Whether ``p`` is a temporary file no live writer holds."""
    if fcntl is None:
        return True
    try:
        with open(p, "rb") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on close
        return True
    except OSError:  # locked (BlockingIOError), gone, or not ours to open: left alone
        return False


def _keep_mode(fd: int, old: os.stat_result) -> None:
    """The permission bits (and, where allowed, the owner) of the file being replaced."""
    if os.name == "nt":
        return
    os.fchmod(fd, stat.S_IMODE(old.st_mode))
    with contextlib.suppress(PermissionError):
        os.fchown(fd, old.st_uid, old.st_gid)


_TEMPORARY = re.compile(r"[0-9a-f]{12}\.tmp")


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; Windows cannot open a directory)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def checksum(metadata: dict[str, str], tensors: dict[str, Array]) -> str:
    """SHA-256 of the metadata (less its ``checksum`` entry) and each tensor's name, dtype, shape
    and bytes, in name order: the same however a writer lays the file out."""
    described = {
        "metadata": {k: v for k, v in metadata.items() if k != "checksum"},
        "tensors": {name: [t.dtype.str, list(t.shape)] for name, t in tensors.items()},
    }
    h = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
    for name in sorted(tensors):
        h.update(np.require(tensors[name], requirements="C").data)
    return "sha256:" + h.hexdigest()


def write_safetensors(
    path: str | os.PathLike[str], tensors: dict[str, Array], metadata: dict[str, str], *, overwrite: bool
) -> Path:
    """A safetensors file of ``tensors`` whose metadata carries their checksum, written atomically."""
    tensors = {name: np.require(t, requirements="C") for name, t in tensors.items()}
    metadata = {**metadata, "checksum": checksum(metadata, tensors)}
    return atomic_write(path, safetensors_bytes(tensors, metadata), overwrite=overwrite)


_DTYPE_NAMES = {
    "float16": "F16", "float32": "F32", "float64": "F64", "bool": "BOOL",
    "int8": "I8", "int16": "I16", "int32": "I32", "int64": "I64",
    "uint8": "U8", "uint16": "U16", "uint32": "U32", "uint64": "U64",
}  # fmt: skip


def safetensors_bytes(tensors: dict[str, Array], metadata: dict[str, str]) -> bytes:
    """The safetensors layout (an 8-byte little-endian header size, the JSON header, the tensors'
    little-endian bytes) with the metadata and the tensors in name order: the same weights and
    metadata give the same bytes (the safetensors library's writer orders the metadata by a
    hash seeded per process)."""
    header: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))}
    offset, blobs = 0, []
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype.name not in _DTYPE_NAMES:
            raise TypeError(f"tensor {name!r} has dtype {t.dtype}, which safetensors cannot hold")
        blob = np.ascontiguousarray(t, dtype=t.dtype.newbyteorder("<")).tobytes()
        header[name] = {
            "dtype": _DTYPE_NAMES[t.dtype.name],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the tensors start 8-byte aligned
    return len(text).to_bytes(8, "little") + text + b"".join(blobs)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate keys {sorted({k for k in keys if keys.count(k) > 1})}")
    return dict(pairs)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str | bytes) -> Any:
    """Strict JSON: no NaN/Infinity, no duplicate keys; any failure (deep nesting, huge numbers,
    bad UTF-8) is a ValueError."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, RecursionError, UnicodeDecodeError, TypeError) as e:
        raise ValueError(f"broken JSON ({type(e).__name__}: {str(e)[:200]})") from None


class SafetensorsFile:
    """A safetensors file read whole and checked: its header before any tensor is made.

    ``metadata`` is the header's string metadata and ``declared`` each tensor's (dtype, shape);
    `tensors` makes the arrays and verifies the checksum, if the file carries one.
    """

    def __init__(self, path: str | os.PathLike[str], dtypes: Collection[str] = tuple(DTYPES)) -> None:
        self.path = path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no file at {path}")
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory, not a file")
        if not path.is_file():
            raise ModelFileError(f"{path} is not a regular file")
        with open(path, "rb") as f:
            stat = os.fstat(f.fileno())
            size = stat.st_size
            if size < 8:
                raise self.error(f"it is {size} bytes long, too short to hold a safetensors header")
            n = int.from_bytes(f.read(8), "little")
            if n > size - 8 or n > MAX_HEADER:
                raise self.error(f"it is truncated or corrupted: its header claims {n} bytes of {size - 8}")
            head = f.read(n)
            try:
                header = parse_json(head)
            except ValueError as e:
                raise self.error(f"its header is {e}") from None
            # checked before the tensors' bytes are read: the header's claims, then the disk's
            self._check_header(header, size - 8 - n, dtypes)
            on_disk = getattr(stat, "st_blocks", None)
            if on_disk is not None and size > 1 << 20 and on_disk * 512 < size // 2:
                raise self.error(
                    f"it is a sparse file ({on_disk * 512} bytes on disk of the {size} it claims): "
                    "a model file is written whole, never with holes"
                )
            self.data = len(head).to_bytes(8, "little") + head + f.read(size - 8 - n)
        if len(self.data) != size:
            raise self.error(f"it shrank while it was read ({len(self.data)} of {size} bytes)")

    def _check_header(self, header: Any, payload: int, dtypes: Collection[str]) -> None:
        """The header is a JSON object of string metadata and tensors that tile ``payload``."""
        if not isinstance(header, dict):
            raise self.error("its header is not a JSON object")
        metadata = header.pop("__metadata__", {})
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise self.error("its metadata is not a map of strings")
        self.metadata: dict[str, str] = metadata
        self.declared = self._check_tensors(header, payload, dtypes)

    def error(self, why: str) -> ModelFileError:
        return ModelFileError(f"{self.path} is not a readable chainrule file: {why}")

    def _check_tensors(
        self, header: dict[str, Any], payload: int, dtypes: Collection[str]
    ) -> dict[str, tuple[str, tuple[int, ...]]]:
        """Each entry's dtype is expected, its shape and byte range agree, and the ranges tile
        the ``payload`` bytes exactly (no gap, no overlap, nothing outside the file)."""
        declared, ranges = {}, []
        for name, entry in header.items():
            if not isinstance(entry, dict) or entry.keys() != {"dtype", "shape", "data_offsets"}:
                raise self.error(f"tensor {name!r} is not described by dtype, shape and data_offsets")
            dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
            if not isinstance(dtype, str) or dtype not in dtypes or dtype not in DTYPES:
                raise self.error(f"tensor {name!r} has dtype {dtype!r}; expected one of {sorted(dtypes)}")
            if not (isinstance(shape, list) and len(shape) <= 8 and all(_is_size(d) for d in shape)):
                raise self.error(f"tensor {name!r} has an invalid shape {str(shape)[:100]}")
            if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_size(o) for o in offsets)):
                raise self.error(f"tensor {name!r} has invalid data_offsets {str(offsets)[:100]}")
            nbytes = DTYPES[dtype].itemsize * math.prod(shape)
            if offsets[1] - offsets[0] != nbytes:
                raise self.error(f"tensor {name!r} of shape {shape} needs {nbytes} bytes, not {offsets}")
            declared[name] = (dtype, tuple(shape))
            ranges.append((offsets[0], offsets[1]))
        end = 0
        for begin, stop in sorted(ranges):
            if begin != end:
                raise self.error("its tensors overlap or leave gaps")
            end = stop
        if end != payload:
            raise self.error(f"its tensors take {end} bytes but the file holds {payload} after the header")
        return declared

    def tensors(self) -> dict[str, Array]:
        """The arrays, after the checksum (if the file has one) is verified."""
        from safetensors.numpy import load

        try:
            arrays = load(self.data)
        except Exception as e:  # the header was checked: this is a safetensors-level surprise
            raise self.error(f"safetensors refused it ({str(e)[:200]})") from None
        if "checksum" in self.metadata and checksum(self.metadata, arrays) != self.metadata["checksum"]:
            raise self.error("its checksum does not match its contents: the file is corrupted")
        return arrays


def _is_size(value: Any) -> bool:
    return type(value) is int and 0 <= value < 2**63


def build_network(
    config: Any, shapes: dict[str, tuple[int, ...]], error: Callable[[str], Exception]
) -> Network:
    """The network a file describes, built only once the sizes of its Dense layers are those of
    the file's tensors (``shapes``, by parameter name), so that a hostile description cannot make
    us allocate more than the file holds; a description that is not exactly what
    `Network.config` writes is refused."""
    layers = config.get("layers") if isinstance(config, dict) else None
    if isinstance(layers, list):
        if len(layers) > MAX_LAYERS:
            raise error(f"its network description has {len(layers)} layers (at most {MAX_LAYERS})")
        for i, layer in enumerate(layers):
            if isinstance(layer, dict) and layer.get("type") == "Dense":
                n_in, n_out = layer.get("n_in"), layer.get("n_out")
                weights, bias = shapes.get(f"layers.{i}.W"), shapes.get(f"layers.{i}.b")
                if weights != (n_in, n_out) or bias != (n_out,):
                    raise error(
                        f"its architecture does not match its tensors: layer {i} is Dense with "
                        f"n_in={str(n_in)[:20]}, n_out={str(n_out)[:20]}, but layers.{i}.W and "
                        f"layers.{i}.b have shapes {weights} and {bias}"
                    )
    try:
        network = Network.from_config(config)
    except (ValueError, TypeError) as e:
        raise error(f"its network description is invalid: {str(e)[:300]}") from None
    if network.config() != config:
        raise error("its network description is not in the form chainrule writes")
    return network
