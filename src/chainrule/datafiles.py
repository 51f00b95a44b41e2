"""Reading CSV files (`read_rows`, `read_csv`, `load_csv`), each refusing what it cannot read with
a one-line `DataError` that names the file, the line and the column, and the fix (IDX files:
`chainrule.idx`).

A CSV file is read as records: the lines of the file, blank ones skipped, a record continuing
over the next lines while a quoted field is open (``"a, b"``, ``"two\\nlines"``, ``""`` for a
quote). Its delimiter is the one of ``,`` ``;`` tab ``|`` that its first record holds most often
(``,`` if none); a UTF-8 byte-order mark is dropped. Only the records of a requested row range
are split into values; the others are only counted, so that each of N processes can parse its
own part of one file.

Numbers are parsed by `numpy.loadtxt` (C), straight into float64: measured on a 200,000 × 50
numeric file (docs/performance.md), it takes 0.6 s and the size of the result, where splitting
into strings first (the `csv` module) takes 3–5 s and 0.5–1.2 GB. Strings are kept for the
target column and for the slow path that names a bad value's line and column, as NumPy's
variable-width `StringDType` (16 bytes a cell, longer text on its own heap): a fixed-width
``<U{longest}`` array would give every cell the width of the longest, so that one cell of
130,000 characters made a 490 KB file ask for 43.6 GiB. The target, which the labels' code
takes as ``<U``, is refused when one value is so much longer than the rest that its
fixed-width array would take far more than the file (`_target`).
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from numpy.dtypes import StringDType

Array = np.ndarray
Source = str | os.PathLike[str] | bytes  # a path, or the bytes of a file (an upload)
DELIMITERS = ",;\t|"
_CHUNK = 4096  # records split into strings at a time
TEXT = StringDType()  # the cells' dtype: each string as long as it is
_SHOWN = 40  # characters of a value quoted in a message
_MARGIN = 64 * 2**20  # bytes a target array may take beyond 4 times the file's size


class DataError(ValueError):
    """The data cannot be used; the message names the problem and the fix."""


class RaggedRowError(DataError):
    """A row with another number of values than the others: ``line``, ``found``, ``expected``."""

    def __init__(self, message: str, line: int, found: int, expected: int) -> None:
        super().__init__(message)
        self.line, self.found, self.expected = line, found, expected


# ----------------------------------------------------------------------------------- records
def _records(f: IO[str], name: str = "") -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank record of ``f``; a record goes on over the next
    lines while it holds an odd number of quotes (a quoted field is open)."""
    pending: list[str] = []
    start = 0
    for number, line in enumerate(f, start=1):
        if pending:
            pending.append(line)
            if line.count('"') & 1:  # the open field closes
                yield start, "".join(pending)
                pending = []
        elif line.count('"') & 1:
            pending, start = [line], number
        elif line.strip():
            yield number, line
    if pending:
        where = f"{name + ', ' if name else ''}line {start}"
        stray = _stray_quote(pending[0])
        if stray is not None:
            raise DataError(
                f'{where}: the quote (") in the value {_shown(stray)} is never closed: {_QUOTE_FIX}'
            )
        raise DataError(f'{where}: a quoted field is never closed: close its quote (")')


_QUOTE_FIX = (
    "a quote inside a value needs the whole value in quotes and the quote doubled "
    '(12" pipe as "12"" pipe"); or remove the quote'
)


def _stray_quote(text: str) -> str | None:
    """The first value of a record's first line that holds a quote but does not begin with one
    (an inch mark, ``12" pipe``): a quote there opens no quoted field, yet leaves the line's
    quotes unbalanced. None if every quote opens or closes a quoted field."""
    line = text.split("\n", 1)[0].rstrip("\r")
    for value in re.split(f"[{re.escape(DELIMITERS)}]", line):
        if '"' in value and not value.lstrip(" ").startswith('"'):
            return value
        if value.lstrip(" ").startswith('"'):
            return None  # a quoted field: the values after it depend on where it ends
    return None


def _shown(value: str) -> str:
    """``value`` quoted for a message, cut to its first characters: a cell of 20,000
    characters is named, not echoed."""
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")


def _column(name: str) -> str:
    """'column 'b'' for a message; a long name cut, an empty one said to be empty."""
    return f"column {_shown(name)}" if name else "the column with no name"


def _delimiter(record: str) -> str:
    """The delimiter that the first record holds most often outside quotes (``,`` if none)."""
    outside = record.split('"')[::2]
    counts = [sum(part.count(d) for part in outside) for d in DELIMITERS]
    return DELIMITERS[int(np.argmax(counts))] if max(counts) else ","


def _name(source: Source) -> str:
    return "the CSV" if isinstance(source, bytes) else str(source)


def _open(source: Source) -> IO[str]:
    """The text of ``source``: a path, or bytes of a file; a byte-order mark is dropped."""
    if isinstance(source, bytes):
        return io.StringIO(source.decode("utf-8-sig"), newline="")
    path = Path(source)
    check_file(path)
    return open(path, newline="", encoding="utf-8-sig")


def check_file(path: Path) -> None:
    """A regular file at ``path``, or an error saying what is there instead."""
    if path.is_file():
        return
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a file: give the file's path")
    if path.exists():  # a FIFO, a socket, a device: not data that can be read twice
        raise DataError(f"{path} is not a regular file (a pipe or a device): give a file")
    raise DataError(f"no such file: {path}: check the path")


def _not_text(source: Source, e: Exception) -> DataError:
    return DataError(f"{_name(source)} is not a readable CSV text file ({e}): give a CSV file in UTF-8")


@dataclass(frozen=True)
class CsvRows:
    """Data rows ``start .. start + len(cells)`` of a CSV file, as strings."""

    header: list[str]  # the names of the columns (``c1, c2, ...`` for a file read without one)
    cells: Array  # (rows, columns) StringDType, as written (not stripped)
    lines: Array  # (rows,) int: the file's line where each row begins, for messages
    start: int  # the first row's index among all data rows
    n_rows: int  # data rows in the whole file (all counted, only the range split)
    delimiter: str


def read_rows(
    source: Source,
    start: int = 0,
    stop: int | None = None,
    *,
    header: bool = True,
    columns: int | None = None,
) -> CsvRows:
    """Data rows ``start:stop`` of a CSV file (a path, or its bytes), split into strings; the
    other rows are counted, not split. ``header=False``: the first record is a data row.
    Every row must have ``columns`` values (default: as many as the first record), else a
    `RaggedRowError` naming its line."""
    if start < 0 or (stop is not None and stop < start):
        raise DataError(f"rows {start}:{stop} are not a range of rows: give 0 <= start <= stop")
    name = _name(source)
    chunks: list[Array] = []
    lines: list[int] = []
    pending: list[str] = []
    n = 0
    names: list[str] = []
    delimiter = ","
    try:
        with _open(source) as f:
            records = _records(f, _name(source))
            first = next(records, None)
            if first is not None:
                delimiter = _delimiter(first[1])
                values = _split_records([first[1]], [first[0]], delimiter, name)[0]
                columns = len(values) if columns is None else columns
                if header:
                    names = [v.strip() for v in values]
                else:
                    records = itertools.chain([first], records)
            for number, text in records:
                if start <= n and (stop is None or n < stop):
                    lines.append(number)
                    pending.append(text)
                    if len(pending) == _CHUNK:
                        chunks.append(_split(pending, lines, delimiter, columns or 0, name))
                        pending = []
                n += 1
            if pending:
                chunks.append(_split(pending, lines, delimiter, columns or 0, name))
    except UnicodeDecodeError as e:
        raise _not_text(source, e) from None
    columns = columns or 0
    if not header:
        names = [f"c{c + 1}" for c in range(columns)]
    cells = _stack(chunks, columns)
    return CsvRows(names, cells, np.array(lines, dtype=np.int64), min(start, n), n, delimiter)


def _split(texts: list[str], lines: list[int], delimiter: str, columns: int, name: str) -> Array:
    """A chunk of records as a (len(texts), columns) array of strings (`TEXT`)."""
    lines = lines[len(lines) - len(texts) :]
    rows = _split_records(texts, lines, delimiter, name)
    for i, row in enumerate(rows):
        if len(row) != columns:
            raise _ragged(name, lines[i], len(row), columns)
    return np.array(rows, dtype=TEXT).reshape(len(rows), columns)


def _split_records(texts: list[str], lines: list[int], delimiter: str, name: str) -> list[list[str]]:
    """Records split into values by the `csv` module; a record it cannot split is a
    `DataError` naming its line (a stray quote, a NUL byte)."""
    reader = csv.reader(texts, delimiter=delimiter)
    try:
        return list(reader)
    except csv.Error as e:
        i = max(reader.line_num - 1, 0)
        text, line = texts[i], lines[i]
        stray = _stray_quote(text)
        if stray is not None:
            end = line + text.rstrip("\r\n").count("\n")
            raise DataError(
                f'{name}, line {line}: the quote (") in the value {_shown(stray)} is unbalanced, so the '
                f"value runs on over the next lines (to line {end}): {_QUOTE_FIX}"
            ) from None
        if "field larger than field limit" in str(e):
            raise DataError(
                f"{name}, line {line}: a value of more than {csv.field_size_limit():,} characters, the most "
                "a cell may hold: shorten it (or check that this is a CSV file)"
            ) from None
        raise DataError(f"{name}, line {line}: not CSV text ({e}): give a CSV file in UTF-8") from None


def _ragged(name: str, line: int, found: int, columns: int) -> RaggedRowError:
    return RaggedRowError(
        f"{name}, line {line}: {found} values but the header has {columns} columns: "
        "give every row one value per column",
        line,
        found,
        columns,
    )


def _stack(chunks: list[Array], columns: int) -> Array:
    """The chunks end to end, each freed once copied (no second copy of all of them at once)."""
    out = np.empty((sum(len(c) for c in chunks), columns), dtype=TEXT)
    i = 0
    while chunks:
        c = chunks.pop(0)
        out[i : i + len(c)] = c
        i += len(c)
    return out


def read_csv(source: Source, start: int = 0, stop: int | None = None) -> tuple[list[str], Array]:
    """The header and the cells (strings) of data rows ``start:stop`` of a CSV file with a
    header row: `read_rows` without the counts. A file without data rows is refused."""
    rows = read_rows(source, start, stop)
    if rows.n_rows == 0:
        raise DataError(f"{_name(source)} has no data rows: give a header row and at least one row of values")
    return rows.header, rows.cells


# ----------------------------------------------------------------------------------- numbers
def numeric(
    cells: Array,
    names: Sequence[str],
    path: Source,
    first_row: int = 0,
    lines: Array | None = None,
) -> Array:
    """The columns of ``cells`` as float64, or an error naming the first bad column and line:
    ``lines[r]`` where given, else ``first_row + r + 2`` (data row ``first_row + r`` of a file
    with one row per line after its header)."""
    X = np.empty(cells.shape, dtype=np.float64)
    for c, name in enumerate(names):
        where = f"{_name(path)}, line {{}}: {_column(name)}"
        try:
            X[:, c] = cells[:, c].astype(np.float64)
        except ValueError:
            r = next(r for r, v in enumerate(cells[:, c]) if not _is_number(v))
            value = str(cells[r, c]).strip()
            problem = "is empty" if not value else f"is not a number ({_shown(value)})"
            raise DataError(
                f"{where.format(_line(r, first_row, lines))} {problem}: features "
                "must be numeric; encode or drop that column (or fill in missing values)"
            ) from None
        bad = ~np.isfinite(X[:, c])
        if bad.any():
            r = int(np.argmax(bad))
            raise DataError(
                f"{where.format(_line(r, first_row, lines))} is {_shown(str(cells[r, c]).strip())}: "
                "NaN and inf cannot be learned from; remove or impute those values"
            )
        big = np.abs(X[:, c]) > _LARGEST
        if big.any():  # float32 overflows to inf, and squares in the standardiser overflow float64
            r = int(np.argmax(big))
            raise DataError(
                f"{where.format(_line(r, first_row, lines))} is {_shown(str(cells[r, c]).strip())}, too "
                f"large to learn from (beyond ±{_LARGEST:.1e}, float32's range); "
                "rescale that column (e.g. to other units or its logarithm)"
            )
    return X


_LARGEST = float(np.finfo(np.float32).max)


def _line(r: int, first_row: int, lines: Array | None) -> int:
    return int(lines[r]) if lines is not None else first_row + r + 2


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def features_and_target(
    header: list[str],
    cells: Array,
    path: Source,
    target: str | None,
    first_row: int = 0,
    lines: Array | None = None,
) -> tuple[Array, Array, list[str], str]:
    """`load_csv` of a CSV file's header and cells (data rows ``first_row``, ... of the file,
    beginning on ``lines`` where given)."""
    names, t = _columns(header, path, target)
    features = np.delete(cells, t, axis=1)
    X = numeric(features, names, path, first_row, lines)
    return X, _target(cells[:, t], path, header[t], first_row, lines), names, header[t]


def _target(cells: Array, path: Source, name: str, first_row: int = 0, lines: Array | None = None) -> Array:
    """The target column's cells, stripped, as a fixed-width ``<U`` array (the labels' code
    takes that kind), or an error naming the line: an empty target; NaN or inf among numeric
    targets; a value so much longer than the others that the array would take more than 4
    times the file's size and 64 MiB."""
    raw = np.char.strip(cells)
    lengths = np.char.str_len(raw)
    width = int(lengths.max(initial=1))
    try:
        values = raw.astype(np.float64)
    except ValueError:  # words: class labels
        values = None
    if (lengths == 0).any():
        r, what = int(np.argmax(lengths == 0)), "is empty: fill in or remove rows without a target"
    elif values is not None and not np.isfinite(values).all():
        r = int(np.argmax(~np.isfinite(values)))
        what = f"is {_shown(str(raw[r]))}: NaN and inf cannot be learned from; fill in or remove those rows"
    elif (
        len(raw) * width * 4 > 4 * (len(path) if isinstance(path, bytes) else os.path.getsize(path)) + _MARGIN
    ):
        r = int(np.argmax(lengths))
        what = (
            f"holds a value of {width:,} characters ({_shown(str(raw[r]))}), far longer than the others "
            "(a target is a class label or a number): check that target= names the right column, or "
            "shorten it"
        )
    else:
        return raw.astype(f"<U{width}")
    where = f"{_name(path)}, line {_line(r, first_row, lines)}"
    raise DataError(f"{where}: the target {_column(name)} {what}")


def _columns(header: list[str], path: Source, target: str | None) -> tuple[list[str], int]:
    """The feature names and the index of the target column (the last one by default)."""
    if len(set(header)) != len(header):
        seen: set[str] = set()
        twice = next(name for name in header if name in seen or seen.add(name))  # type: ignore[func-returns-value]
        what = "two columns with no name" if not twice else f"two columns named {_shown(twice)}"
        raise DataError(f"{_name(path)}: the header has {what}: give every column its own name")
    if target is None and not header[-1] and len(header) > 1:
        raise DataError(
            f"{_name(path)}: the header's last column has no name (a delimiter at the end of the header?) "
            "and would be the target: name it, remove the trailing delimiters, or choose the target with "
            "target="
        )
    target = header[-1] if target is None else target
    if target not in header:
        shown = ", ".join(_shown(name)[1:-1] for name in header[:10]) + (", …" if len(header) > 10 else "")
        raise DataError(
            f"target {_shown(target)} is not a column of {_name(path)} (columns: {shown}): choose one of them"
        )
    if len(header) < 2:
        raise DataError(f"{_name(path)} has only the target column: it needs at least one feature column")
    t = header.index(target)
    return [name for c, name in enumerate(header) if c != t], t


def load_csv(
    path: Source, target: str | None = None, start: int = 0, stop: int | None = None
) -> tuple[Array, Array, list[str], str]:
    """X (float64), the target column's cells (strings, stripped), the feature names and the
    target name, of data rows ``start:stop`` of a CSV file with a header row. ``target`` names
    the target column; the last column by default.

    The features are parsed as numbers in C (`numpy.loadtxt`); should that fail, the rows are
    split into strings to name the first bad value's line and column."""
    header, delimiter = _head(path)
    names, t = _columns(header, path, target)
    try:
        X, raw = _loadtxt(path, start, stop, delimiter, len(header), t)
        if not np.isfinite(X).all() or (X.size and np.abs(X).max() > _LARGEST):
            raise ValueError("a value to name")
        y = _target(raw, path, header[t])  # DataError: named again with its line by the slow path
    except (ValueError, csv.Error):  # DataError too
        rows = read_rows(path, start, stop)  # the slow path, to name the line and column
        return features_and_target(rows.header, rows.cells, path, target, lines=rows.lines)
    return X, y, names, header[t]


def _head(source: Source) -> tuple[list[str], str]:
    """The header and the delimiter of a CSV file that has at least one data row."""
    try:
        with _open(source) as f:
            records = _records(f, _name(source))
            first, second = next(records, None), next(records, None)
    except UnicodeDecodeError as e:
        raise _not_text(source, e) from None
    if first is None or second is None:
        raise DataError(f"{_name(source)} has no data rows: give a header row and at least one row of values")
    delimiter = _delimiter(first[1])
    return [v.strip() for v in _split_records([first[1]], [first[0]], delimiter, _name(source))[0]], delimiter


def _loadtxt(
    path: Source, start: int, stop: int | None, delimiter: str, columns: int, t: int
) -> tuple[Array, Array]:
    """The columns but ``t`` of data rows ``start:stop`` as float64, parsed by `numpy.loadtxt`,
    and column ``t``'s cells (`TEXT`, as written), cut from the same records as they pass (one
    read of the file); a row without ``columns`` values is a `RaggedRowError`."""
    cells: list[str] = []

    def texts(records: Iterator[tuple[int, str]]) -> Iterator[str]:
        for n, (line, text) in enumerate(records):
            if stop is not None and n >= stop:
                return
            if n >= start:
                if '"' in text:  # a delimiter may be inside quotes
                    values = _split_records([text], [line], delimiter, _name(path))[0]
                    found, cell = len(values), values[t] if t < len(values) else ""
                else:
                    found = text.count(delimiter) + 1
                    cell = (
                        text.rpartition(delimiter)[2] if t == columns - 1 else text.split(delimiter, t + 1)[t]
                    )
                if found != columns:
                    raise _ragged(_name(path), line, found, columns)
                cells.append(cell)
                yield text

    with _open(path) as f:
        records = _records(f, _name(path))
        next(records, None)  # the header
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": no rows in range
            X = np.loadtxt(
                texts(records),
                delimiter=delimiter,
                quotechar='"',
                comments=None,
                usecols=[c for c in range(columns) if c != t],
                dtype=np.float64,
            )
    return X.reshape(-1, columns - 1), np.array(cells, dtype=TEXT)
