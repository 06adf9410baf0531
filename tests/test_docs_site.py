"""The docs site's configuration (mkdocs.yml): every page is in the navigation. The strict
build itself (`make docs`) checks links, anchors and references."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
CONFIG = (DOCS.parent / "mkdocs.yml").read_text()


def test_every_page_is_in_the_nav() -> None:
    in_nav = set(re.findall(r":\s*([\w-]+\.md)\s*$", CONFIG, re.M))
    assert in_nav == {p.name for p in DOCS.glob("*.md")}


def test_tool_pages_are_linked_from_the_index() -> None:
    index = (DOCS / "index.md").read_text()
    assert "(cli.md)" in index and "(data.md)" in index
