"""``fusiondb serve`` and ``fusiondb codegen``: a file's functions to web pages (fusiondb.serve).

Both need the ``serve`` extra; without it they say so. ``--functions`` names a module
(``myapp.functions``) importable from the current directory: every ``@fdb.query`` /
``@fdb.mutation`` it defines is exposed, and its ``schema`` (if any) opens the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..core.errors import FusionError

FUNCTIONS = click.option(
    "--functions", required=True, metavar="MODULE",
    help="The module whose @fdb.query / @fdb.mutation functions are served, e.g. myapp.functions.",
)


def _serve_package() -> Any:
    try:
        import fusiondb.serve as serve_package
    except ImportError as exc:
        raise click.ClickException(f"{exc}") from exc
    return serve_package


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@FUNCTIONS
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (0.0.0.0: every interface; put a reverse proxy in front).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--static", "static_dir", type=click.Path(file_okay=False, exists=True),
              help="A built web page to serve at /.")
@click.option("--public-files", is_flag=True, help="File URLs without a token.")
@click.option("--base-url", help="What file URLs start with (default: paths, /files/...).")
def serve(file: str, functions: str, host: str, port: int, static_dir: str | None,
          public_files: bool, base_url: str | None) -> None:
    """Serve FILE's functions (HTTP and a WebSocket of live queries) and files."""
    _serve_package()
    from ..serve.run import serve as run_server

    try:
        run_server(file, functions, host=host, port=port, static_dir=static_dir,
                   public_files=public_files, base_url=base_url)
    except (FusionError, OSError, TypeError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@FUNCTIONS
@click.option("-o", "--output", "target", required=True, type=click.Path(dir_okay=False),
              help="The TypeScript file to write, e.g. src/api.ts.")
@click.option("--client-module", default="fusiondb-client", show_default=True,
              help="Where api.ts imports the client's types from.")
def codegen(functions: str, target: str, client_module: str) -> None:
    """Write TypeScript types of the served functions' arguments and results."""
    package = _serve_package()
    from ..serve.codegen import generate
    from ..serve.functions import Registry

    try:
        text = generate(Registry(package.load_module(functions)), client_module)
    except (FusionError, TypeError) as exc:
        raise click.ClickException(str(exc)) from exc
    Path(target).write_text(text)
    click.echo(f"wrote {target}", err=True)
