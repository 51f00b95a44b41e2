"""The one CSV reader (`chainrule.datafiles`): delimiters, quotes, blank lines, a byte-order mark,
row ranges that parse only their rows, and errors that name the line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainrule import data, datafiles
from chainrule.datafiles import DataError, RaggedRowError

AWKWARD = {
    "semicolons": "a;b;y\n1,5;2;x\n3;4;z\n",  # a decimal comma inside a value of a ;-file
    "tabs": "a\tb\ty\n1.5\t2\tx\n3\t4\tz\n",
    "bom, CRLF, blank lines": "\ufeffa,b,y\r\n\r\n1.5,2,x\r\n   \r\n3,4,z\r\n\r\n",
    "quotes": 'a,b,y\n"1.5","2","x"\n3,4,"say ""z"""\n',
    "quoted delimiter and newline": 'a,b,y\n1.5,2,"x, and\nmore"\n3,4,z\n',
}
EXPECTED = {  # header, cells
    "semicolons": (["a", "b", "y"], [["1,5", "2", "x"], ["3", "4", "z"]]),
    "tabs": (["a", "b", "y"], [["1.5", "2", "x"], ["3", "4", "z"]]),
    "bom, CRLF, blank lines": (["a", "b", "y"], [["1.5", "2", "x"], ["3", "4", "z"]]),
    "quotes": (["a", "b", "y"], [["1.5", "2", "x"], ["3", "4", 'say "z"']]),
    "quoted delimiter and newline": (["a", "b", "y"], [["1.5", "2", "x, and\nmore"], ["3", "4", "z"]]),
}


@pytest.mark.parametrize("kind", list(AWKWARD))
def test_awkward_files_are_read_as_written(tmp_path, kind):
    path = tmp_path / "f.csv"
    path.write_bytes(AWKWARD[kind].encode())
    header, cells = datafiles.read_csv(path)
    assert header == EXPECTED[kind][0]
    assert [[c.strip() for c in row] for row in cells.tolist()] == EXPECTED[kind][1]
    assert datafiles.read_rows(path.read_bytes()).cells.tolist() == cells.tolist()  # bytes: the same
    if kind != "semicolons":  # "1,5" is not a number: the slow path names it
        X, raw, names, target = datafiles.load_csv(path)
        np.testing.assert_array_equal(X, [[1.5, 2], [3, 4]])
        assert raw.tolist() == [row[2] for row in EXPECTED[kind][1]] and names == ["a", "b"] and target == "y"


def test_the_lines_of_rows_count_blank_lines_and_quoted_newlines(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text('a,b\n\n1,"x\ny"\n\n\n2,z\n3,"w"\n')
    rows = datafiles.read_rows(path)
    assert rows.lines.tolist() == [3, 7, 8] and rows.n_rows == 3 and rows.start == 0
    path.write_text('a,b\n\n1,"x\ny"\n\n\n2,z\nred,w\n')
    with pytest.raises(DataError, match=r"f\.csv, line 8: column 'a' is not a number \('red'\)"):
        datafiles.load_csv(path, target="b")
    path.write_text("a,b,y\n1,2,0\n\n2,3,1,5\n")
    with pytest.raises(RaggedRowError, match=r"line 4: 4 values but the header has 3 columns") as e:
        datafiles.load_csv(path)
    assert (e.value.line, e.value.found, e.value.expected) == (4, 4, 3)
    path.write_text('a,b\n1,"open\n2,3\n')
    with pytest.raises(DataError, match="line 2: a quoted field is never closed"):
        datafiles.read_csv(path)


def test_a_row_range_parses_only_its_rows_and_counts_all(tmp_path):
    path = tmp_path / "f.csv"
    rows = [f"{k},{k * 0.5},{'ab'[k % 2]}" for k in range(10)]
    rows[1] = "oops,,a,too,many"  # outside the range: counted, never split
    path.write_text("u,v,y\n" + "\n".join(rows) + "\n\n")
    part = datafiles.read_rows(path, 3, 7)
    assert part.start == 3 and part.n_rows == 10 and part.lines.tolist() == [5, 6, 7, 8]
    assert part.cells[:, 0].tolist() == ["3", "4", "5", "6"]
    X, raw, _, _ = datafiles.load_csv(path, None, 3, 7)
    np.testing.assert_array_equal(X, [[k, k * 0.5] for k in range(3, 7)])
    assert raw.tolist() == ["b", "a", "b", "a"]
    assert datafiles.load_csv(path, None, 9, 40)[0].tolist() == [[9, 4.5]]
    assert datafiles.load_csv(path, None, 10)[0].shape == (0, 2)
    assert datafiles.read_rows(path, 0, 0).cells.shape == (0, 3)
    assert datafiles.read_csv(path, 8)[1][:, 2].tolist() == ["a", "b"]
    with pytest.raises(RaggedRowError, match="line 3: 5 values"):
        datafiles.load_csv(path, None, 0, 3)
    with pytest.raises(DataError, match="not a range of rows"):
        datafiles.read_rows(path, 5, 2)


def test_the_fast_path_and_the_strings_give_the_same_numbers(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 6)) * 10.0 ** rng.integers(-8, 8, 6)
    path = tmp_path / "f.csv"
    lines = [",".join(repr(float(v)) for v in row) + f",{k % 3}" for k, row in enumerate(X)]
    path.write_text("a,b,c,d,e,f,y\n" + "\n".join(lines))
    fast, raw, _, _ = datafiles.load_csv(path)
    header, cells = datafiles.read_csv(path)
    np.testing.assert_array_equal(fast, X)  # repr round-trips: exactly the same float64
    np.testing.assert_array_equal(fast, datafiles.numeric(cells[:, :6], header[:6], path))
    assert raw.tolist() == [str(k % 3) for k in range(5000)]


def test_data_load_reads_only_the_first_samples_rows(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a,y\n" + "".join(f"{k},{k % 2}\n" for k in range(40)) + "bad,1\n")
    ds = data.load(str(path), samples=40, test_fraction=0.25, val_fraction=0.0)
    assert len(ds.y_train) + len(ds.y_test) == 40
    with pytest.raises(DataError, match="line 42: column 'a' is not a number"):
        data.load(str(path))


def test_the_old_names_still_read(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a,b\n1,2\n")
    assert data.read_csv is datafiles.read_csv and data.DataError is DataError
    header, cells = data.read_csv(path)
    assert header == ["a", "b"] and cells.tolist() == [["1", "2"]]
    path.write_text("a,b\n")
    with pytest.raises(DataError, match="has no data rows"):
        data.read_csv(path)
    with pytest.raises(DataError, match="has no data rows"):
        data.load_csv(path)
    with pytest.raises(DataError, match="no such file"):
        data.read_csv(Path(tmp_path / "missing.csv"))


def test_one_long_cell_costs_its_own_size_not_that_of_every_cell(tmp_path):
    """A cell of 20,000 characters once gave every cell that width (``<U20000``): 1,000 rows of
    three columns asked for 240 MB. Now each string is as long as it is, the target array is
    refused when one value would make it far larger than the file, and messages quote a cell's
    first 40 characters only."""
    import tracemalloc

    rng = np.random.default_rng(0)
    rows = [f"{a:.3f},{b:.3f},{'yes' if a > 0 else 'no'},0" for a, b in rng.normal(size=(1000, 2))]
    rows[3] = rows[3][: rows[3].rindex(",")] + "," + "n" * 20_000
    path = tmp_path / "notes.csv"
    path.write_text("a,b,y,notes\n" + "\n".join(rows) + "\n")
    tracemalloc.start()
    try:
        header, cells = datafiles.read_csv(path)
        datafiles.load_csv(path, target="y")  # notes a feature: refused below
    except DataError as e:
        message = str(e)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 8 * path.stat().st_size + 2**20, (
        f"{peak / 2**20:.0f} MiB for a {path.stat().st_size} B file"
    )
    assert cells[3, 3] == "n" * 20_000 and cells.shape == (1000, 4)
    assert "line 5: column 'notes' is not a number ('nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn…')" in message
    assert len(message) < 300
    assert datafiles.numeric(cells[:, :2], header[:2], path).shape == (1000, 2)  # the column left out
    path.write_text("a,notes\n" + "".join(f"{k},{'n' * 20_000 if k == 3 else 'ok'}\n" for k in range(1000)))
    with pytest.raises(
        DataError, match=r"line 5: the target column 'notes' holds a value of 20,000 characters"
    ):
        datafiles.load_csv(path)
    path.write_text("a,y\n" + "".join(f"{k},{'hippopotamus' if k % 2 else 'ox'}\n" for k in range(50)))
    assert datafiles.load_csv(path)[1].dtype == np.dtype("<U12")  # labels of unequal lengths are fine
    path.write_text("a,y\n1,x\n2," + "z" * 200_000 + "\n")
    with pytest.raises(DataError, match=r"line 3: a value of more than 131,072 characters"):
        datafiles.read_csv(path)
