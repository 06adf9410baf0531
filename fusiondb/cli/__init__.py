"""The ``fusiondb`` command: look into, move data in and out of, and back up a fusiondb file.

It needs the ``cli`` extra (click and rich): ``pip install 'fusiondb[cli]'``. Without it,
``fusiondb`` says so instead of failing with an import error. The commands open the file with
the schema it stores (``fdb.open_stored``), so they need none of the application's code.
"""

from __future__ import annotations

import sys

MISSING_EXTRA = (
    "fusiondb: the command line needs the 'cli' extra (click and rich).\n"
    "Install it with:  pip install 'fusiondb[cli]'\n"
)


def main(argv: list[str] | None = None) -> None:
    """Run the ``fusiondb`` command (the ``[project.scripts]`` entry point)."""
    try:
        from .commands import cli
    except ImportError as exc:
        if exc.name not in ("click", "rich") and not str(exc.name).startswith(("click.", "rich.")):
            raise
        sys.stderr.write(MISSING_EXTRA)
        raise SystemExit(1) from None
    cli.main(args=argv, prog_name="fusiondb")
