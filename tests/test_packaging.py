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


ROOT = Path(__file__).resolve().parent.parent


def build_sdist(out: Path) -> list[str]:
    """Build the sdist of a clean copy of the project (no stale *.egg-info, whose SOURCES.txt
    setuptools would reuse) with the installed setuptools; the member paths."""
    import shutil
    import subprocess
    import sys
    import tarfile

    src = out / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "*.egg-info", "__pycache__", "build", "dist", ".*_cache", ".hypothesis", "*.db*"
    ))
    code = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=src, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with tarfile.open(out / done.stdout.strip().splitlines()[-1]) as tar:
        # Members are "fusiondb-0.1.0/<path>".
        return [name.split("/", 1)[1] for name in tar.getnames() if "/" in name]


def test_the_sdist_carries_the_test_suite_whole_and_the_license(tmp_path: Path) -> None:
    members = set(build_sdist(tmp_path))
    tests = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("*.py")
             if "__pycache__" not in p.parts}
    assert "tests/conftest.py" in tests
    assert tests <= members, sorted(tests - members)
    docs = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")}
    assert docs <= members, sorted(docs - members)  # tests/test_docs.py reads them
    assert {"LICENSE", "pyproject.toml", "fusiondb/__init__.py", "fusiondb/py.typed"} <= members
    assert not [m for m in members if m.endswith((".pyc", ".db"))]


def test_an_editable_install_is_visible_to_type_checkers(tmp_path: Path) -> None:
    # `pip install -e .` must leave the sources where mypy and pyright look (a .pth path, not
    # an import hook they cannot follow). Offline and fast: the editable wheel is built with
    # this venv's setuptools, then pip installs it, without dependencies, in a fresh venv.
    import shutil
    import subprocess
    import sys
    import venv

    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "*.egg-info", "__pycache__", "build", "dist", ".*_cache", ".hypothesis", "*.db*"
    ))
    code = "import sys; from setuptools import build_meta; print(build_meta.build_editable(sys.argv[1]))"
    built = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=src, capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = tmp_path / built.stdout.strip().splitlines()[-1]
    venv.create(tmp_path / "env", with_pip=False)
    python = str(tmp_path / "env" / "bin" / "python")
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", str(wheel)]
    installed = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]

    user = tmp_path / "user"
    user.mkdir()
    (user / "app.py").write_text("import fusiondb as fdb\n\nversion: int = fdb.__version__\n")
    bin_dir = Path(sys.executable).parent
    mypy = subprocess.run(
        [str(bin_dir / "mypy"), "--strict", "--no-incremental", "--python-executable", python, "app.py"],
        cwd=user, capture_output=True, text=True, timeout=300,
    )
    # Found and read: the one error is the str given to an int, nothing about a missing module.
    assert 'expression has type "str", variable has type "int"' in mypy.stdout, mypy.stdout
    assert "Cannot find implementation" not in mypy.stdout and "import-not-found" not in mypy.stdout
    pyright = subprocess.run(
        [str(bin_dir / "pyright"), "--pythonpath", python, "app.py"],
        cwd=user, capture_output=True, text=True, timeout=300,
    )
    assert "reportAssignmentType" in pyright.stdout, pyright.stdout
    assert "reportMissingImports" not in pyright.stdout, pyright.stdout
