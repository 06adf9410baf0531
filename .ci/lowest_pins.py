"""Print ``name==version`` for the lower bound of every runtime dependency in pyproject.toml.

Used by .ci/lowest-deps; a dependency without a ``>=`` bound is an error, since then the lowest
version it would install is not known.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

LOWER = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*[^;]*?>=\s*([0-9][^,;\s]*)")


def main() -> int:
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        m = LOWER.match(requirement)
        if m is None:
            print(f"lowest_pins: {requirement!r} has no lower bound (>=)", file=sys.stderr)
            return 1
        print(f"{m.group(1)}=={m.group(2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
