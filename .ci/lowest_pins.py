"""Print ``name==version`` for the lower bound of every runtime dependency in pyproject.toml,
and of the extras in ``EXTRAS`` (what the test suite imports of them is tested at its lowest).

Used by .ci/lowest-deps; a dependency without a ``>=`` bound is an error, since then the lowest
version it would install is not known. ``COMPANIONS``: what the suite needs beside a pin.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

EXTRAS = ("serve",)
# Starlette before 1.0's TestClient imports httpx (later ones httpx2, which the test extra has).
COMPANIONS = {"starlette": ["httpx==0.28.1"]}
LOWER = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*[^;]*?>=\s*([0-9][^,;\s]*)")


def main() -> int:
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    requirements = list(project["dependencies"]) + [r for name in EXTRAS for r in extras[name]]
    for requirement in requirements:
        m = LOWER.match(requirement)
        if m is None:
            print(f"lowest_pins: {requirement!r} has no lower bound (>=)", file=sys.stderr)
            return 1
        print(f"{m.group(1)}=={m.group(2)}")
        for companion in COMPANIONS.get(m.group(1).lower(), []):
            print(companion)
    return 0


if __name__ == "__main__":
    sys.exit(main())
