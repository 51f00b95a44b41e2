"""Every ```python block of the docs runs, in order, in one namespace per page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_code_runs(page, capsys):
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    if not blocks:
        pytest.skip("no python blocks")
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{page.name}[block {i + 1}]", "exec"), namespace)


def test_every_test_the_reliability_table_cites_exists():
    text = (DOCS / "reliability.md").read_text()
    cited = set(re.findall(r"`(tests/\w+\.py)(?:::(\w+))?`", text))
    assert len(cited) > 40 and "TODO" not in text
    root = DOCS.parent
    for path, name in cited:
        source = (root / path).read_text()
        assert not name or re.search(rf"^def {name}\(", source, re.M), f"{path}::{name}"
