"""IDX files, the format of MNIST and Fashion-MNIST (gzip-compressed or not): a header of a zero
word, a type byte, the number of dimensions and each dimension's size (big-endian uint32), then the
values in C order.

`idx_header` checks the declared sizes against the file's own size before anything is allocated
(a hostile header cannot make us allocate more than the file holds); `read_idx` reads rows
``start:stop`` straight into their array, and a whole gzip file to its end, where the stream's
CRC-32 and length are checked. Anything it cannot read is a one-line `DataError`.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from chainrule.datafiles import DataError

Array = np.ndarray


_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed if it is gzip (recognised by its magic number)."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _data_size(path: Path) -> int:
    """The bytes the file holds once decompressed: its size, or a gzip file's ISIZE (the size
    modulo 2^32, in its last 4 bytes; 2^32 more are allowed for each 2^32 of compressed data)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            return size
        f.seek(max(size - 4, 0))
        isize = int.from_bytes(f.read(4), "little")
    return isize + (1 << 32) * (size * 1032 >> 32)  # deflate expands at most 1032-fold


def idx_header(path: str | os.PathLike[str]) -> tuple[np.dtype, tuple[int, ...], int]:
    """The element type, the shape and the byte offset of the data of an IDX file (gzip or not).
    A header that declares more data than the file holds is refused before anything is allocated."""
    path = Path(path)
    try:
        with _open_binary(path) as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _IDX_TYPES or magic[3] == 0:
                raise DataError(f"{path} is not an IDX file (bad magic number): give the original IDX files")
            ndim = magic[3]
            dims = f.read(4 * ndim)
    except (OSError, EOFError, zlib.error) as e:
        raise _corrupt(path, e) from None
    if len(dims) < 4 * ndim:
        raise DataError(f"{path} is truncated (incomplete header): download it again")
    shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">u4"))
    dtype, offset = np.dtype(_IDX_TYPES[magic[2]]), 4 + 4 * ndim
    declared = offset + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared > _data_size(path):
        raise DataError(
            f"{path} is truncated or damaged (its header declares {shape} values, more than the file "
            "holds): download it again"
        )
    return dtype, shape, offset


def _corrupt(path: Path, e: BaseException) -> DataError:
    return DataError(f"{path} is a damaged gzip file ({type(e).__name__}: {e}): download it again")


def read_idx(path: str | os.PathLike[str], start: int = 0, stop: int | None = None) -> Array:
    """Rows ``start:stop`` (along the first axis) of an IDX file, gzip-compressed or not.

    Only the requested rows are converted, so a shard of a large file costs its own size in
    memory (a gzip file is still decompressed up to ``stop``)."""
    path = Path(path)
    dtype, shape, offset = idx_header(path)
    n = shape[0]
    stop = n if stop is None else min(stop, n)
    if not 0 <= start <= stop:
        raise DataError(f"rows {start}:{stop} are outside {path.name}, which has {n} rows")
    row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    out = np.empty((stop - start, *shape[1:]), dtype=dtype)
    try:
        with _open_binary(path) as f:
            f.seek(offset + start * row)
            done, view = 0, memoryview(out.reshape(-1).view(np.uint8))
            while done < len(view) and (got := f.readinto(view[done:])):  # straight into the array
                done += got
            if stop == n and done == len(view) and f.read(1):  # the whole file: to its end, where
                raise DataError(  # a gzip stream's CRC and length are checked
                    f"{path} holds more than its header says ({n} rows): replace it with the original"
                )
    except (OSError, EOFError, zlib.error) as e:
        raise _corrupt(path, e) from None
    if done != len(view):
        raise DataError(f"{path} is truncated (shorter than its header says): download it again")
    return out if dtype.isnative else out.astype(dtype.newbyteorder("="))
