"""The docs: every public name is documented, every error class has its entry, examples run.

Example pages are checked by running them: the ``python`` blocks of a page run in order in one
namespace (in a temporary directory, so ``fdb.open("app.db", ...)`` leaves nothing behind), and
``pycon`` blocks (``>>>`` lines with their output) are checked as doctests in that namespace.
A block whose info string says ``no-run`` is only shown. Blocks tagged ``file=NAME`` are files
of a user's project (the testing page): they are written out and run with pytest.
"""

from __future__ import annotations

import doctest
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import fusiondb as fdb
from fusiondb.core import errors

DOCS = Path(__file__).resolve().parent.parent / "docs"
RUN_PAGES = [
    "getting-started.md", "schema.md", "queries.md", "mutations.md", "errors.md", "schema-evolution.md",
    "files.md", "search.md", "limits.md", "data.md", "typing.md", "asyncio.md", "vector-search.md",
]
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.S | re.M)


def all_docs_text() -> str:
    return "\n".join(p.read_text() for p in sorted(DOCS.glob("*.md")))


def blocks(page: str) -> list[tuple[str, str, int]]:
    """(info string, code, line number) of every fenced block of a page."""
    text = (DOCS / page).read_text()
    return [
        (m.group(1).strip(), m.group(2), text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)
    ]


@pytest.mark.parametrize("name", sorted(fdb.__all__))
def test_public_name_is_documented(name: str) -> None:
    assert re.search(rf"\b{re.escape(name)}\b", all_docs_text()), f"fdb.{name} is not mentioned in docs/*.md"


def error_classes() -> list[str]:
    return sorted(
        name
        for name, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, Exception) and obj.__module__ in (errors.__name__, "fusiondb")
    )


@pytest.mark.parametrize("name", error_classes())
def test_every_error_class_has_an_entry_in_errors_page(name: str) -> None:
    page = (DOCS / "errors.md").read_text()
    assert re.search(rf"^#+ .*`(fdb\.)?{name}`", page, re.M), f"docs/errors.md has no heading for {name}"
    # And the page names no error class the code does not have.
    for heading in re.findall(r"^#+ .*?`(?:fdb\.)?(\w+)`", page, re.M):
        assert heading in error_classes(), f"docs/errors.md documents {heading}, which does not exist"


@pytest.mark.parametrize("page", RUN_PAGES)
def test_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": f"docs_{page[:-3].replace('-', '_')}"}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    parser = doctest.DocTestParser()
    ran = 0
    try:
        for info, code, line in blocks(page):
            if "no-run" in info or "file=" in info:
                continue
            if info.startswith("python"):
                exec(compile(code, f"{page}:{line}", "exec", dont_inherit=True), namespace)
            elif info.startswith("pycon"):
                test = parser.get_doctest(code, namespace, f"{page}:{line}", str(DOCS / page), line)
                result = runner.run(test, clear_globs=False)
                namespace.update(test.globs)  # a DocTest runs in a copy of the namespace
                assert result.failed == 0, f"{page}:{line}: example output differs (see above)"
            else:
                continue
            ran += 1
    finally:
        for value in list(namespace.values()):
            if isinstance(value, fdb.Database):
                value.close()
    assert ran, f"{page} has no runnable examples"


def test_testing_page_examples_run_under_pytest(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With FUSIONDB_POSTGRES_URL set (make test) the examples' fusiondb_db is on PostgreSQL,
    # as a user's would be.
    files = {}
    for info, code, _ in blocks("testing.md"):
        m = re.search(r"file=(\S+)", info)
        if m:
            files[m.group(1)] = code
    assert "conftest.py" in files and any(n.startswith("test_") for n in files)
    for name, code in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 2 and not outcomes.get("failed") and not outcomes.get("errors")


pytest_plugins = ["pytester"]
