"""The package as users and their tools see it: public names, the typed example app."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import fusiondb as fdb


def submodules(package: str) -> list[str]:
    module = importlib.import_module(package)
    return [info.name for info in pkgutil.walk_packages(module.__path__, f"{package}.")]


def test_no_submodule_shadows_a_public_name() -> None:
    # pyright (and Pylance) resolve `fusiondb.query` to a submodule fusiondb/query.py if there
    # is one, whatever __init__ binds: every check of user code using fdb.query would fail.
    children = {name.rsplit(".", 1)[1] for name in submodules("fusiondb") if name.count(".") == 1}
    assert children, "found no submodules at all"
    assert not children & set(fdb.__all__), children & set(fdb.__all__)


def test_public_names_survive_importing_every_submodule() -> None:
    # Importing fusiondb.x binds attribute x on the package: it must not replace a public name.
    before = {name: getattr(fdb, name) for name in fdb.__all__}
    names = submodules("fusiondb")
    for name in names:
        importlib.import_module(name)
    assert len(names) > 20
    assert {name: getattr(fdb, name) for name in fdb.__all__} == before


def test_every_public_name_exists() -> None:
    missing = [name for name in fdb.__all__ if not hasattr(fdb, name)]
    assert not missing


def test_the_typed_example_app_runs(tmp_path: Path) -> None:
    from tests.typing.app import main

    assert main(None) == ["milk"]
    assert main(str(tmp_path / "typed.db")) == ["milk"]
    assert (tmp_path / "typed.db").exists()
