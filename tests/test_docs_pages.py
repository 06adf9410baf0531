"""The docs pages as a reader follows them: one folder, page after page, copying blocks."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from tests.test_docs import DOCS, RUN_PAGES, blocks

PAGES = sorted(p.name for p in DOCS.glob("*.md"))


def python_blocks(page: str) -> list[tuple[str, str, int]]:
    return [b for b in blocks(page) if b[0].startswith("python")]


@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_compiles(page: str) -> None:
    # Fragments too: a top-level `async for` is a SyntaxError to whoever pastes it.
    for _info, code, line in python_blocks(page):
        compile(code, f"{page}:{line}", "exec", dont_inherit=True)


@pytest.mark.parametrize("page", sorted(set(PAGES) - set(RUN_PAGES)))
def test_blocks_of_pages_not_run_are_marked_as_fragments(page: str) -> None:
    # test_docs runs the python blocks of RUN_PAGES; elsewhere a block must say what it is.
    unmarked = [line for info, _, line in python_blocks(page) if "no-run" not in info and "file=" not in info]
    assert not unmarked, f"{page}: python blocks at lines {unmarked} are neither run nor marked no-run"


def test_each_page_opens_its_own_database_file() -> None:
    # Following two pages in one folder must not open one page's file with another's schema.
    opened: dict[str, set[str]] = defaultdict(set)
    for page in PAGES:
        for _, code, _ in blocks(page):
            for name in re.findall(r"fdb\.open\(\s*[\"']([^\"']+)[\"']", code):
                opened[name].add(page)
    assert opened, "no page opens a database file"
    shared = {name: pages for name, pages in opened.items() if len(pages) > 1}
    assert not shared, shared


def test_files_page_says_how_to_back_up_an_open_database() -> None:
    text = (DOCS / "files.md").read_text()
    assert "one file to copy" not in text
    assert "WAL" in text and ".backup" in text
