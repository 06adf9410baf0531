"""`fusiondb codegen`: TypeScript from the served functions' annotations. The JavaScript
client's tests type-check calls against clients/js/test/fixtures/api.ts (tsc in npm test), so
that file must be what codegen writes today."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from fusiondb.cli.commands import cli
from fusiondb.serve.codegen import generate
from fusiondb.serve.functions import Registry
from tests import serve_app

FIXTURE = Path(__file__).resolve().parent.parent / "clients/js/test/fixtures/api.ts"


def test_the_js_fixture_is_current() -> None:
    assert FIXTURE.read_text() == generate(Registry(serve_app), "../../src/index.ts"), (
        "re-run: fusiondb codegen --functions tests.serve_app "
        "-o clients/js/test/fixtures/api.ts --client-module ../../src/index.ts"
    )


def test_models_become_interfaces_and_functions_typed_refs() -> None:
    text = generate(Registry(serve_app))
    assert 'from "fusiondb-client"' in text
    assert "export interface Task {" in text and "  user_id: string;" in text
    assert "  attachment?: string | null;" in text
    assert "export type ListByUserResult = Task[];" in text
    assert "export type CountAllArgs = Record<string, never>;" in text
    assert "WhoamiArgs = Record<string, never>" in text  # identity is not an argument
    assert 'list_by_user: { kind: "query", name: "list_by_user" }' in text


def test_codegen_command_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "api.ts"
    result = CliRunner().invoke(cli, ["codegen", "--functions", "tests.serve_app", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "export const api" in out.read_text()
    bad = CliRunner().invoke(cli, ["codegen", "--functions", "no.such", "-o", str(out)])
    assert bad.exit_code == 1 and "cannot import" in bad.output
