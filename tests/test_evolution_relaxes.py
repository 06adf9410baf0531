"""The proof of "relaxing": ``relaxes(old, new)`` decides from two JSON schemas whether every
document valid under the old model is valid under the new one, so a change applies unchecked.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
import pytest

from fusiondb.evolution.relax import relaxes


def _schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(mode="validation")


class _Addr(pydantic.BaseModel):
    city: str


class _Addr2(pydantic.BaseModel):
    city: str
    zip: str | None = None


def _model(**fields: Any) -> dict[str, Any]:
    return _schema(pydantic.create_model("M", **fields))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"a": (int, ...)}, {"a": (int, ...)}, True),
        ({"a": (int, ...)}, {"a": (int | None, None)}, True),
        ({"a": (int, ...)}, {"a": (float, ...)}, True),
        ({"a": (int, ...)}, {"a": (str, ...)}, False),
        ({"a": (int | None, None)}, {"a": (int, ...)}, False),
        ({"a": (int, ...)}, {"a": (int, ...), "b": (str | None, None)}, True),
        ({"a": (int, ...)}, {"a": (int, ...), "b": (str, ...)}, False),
        ({"a": (int, ...)}, {"a": (int, 0)}, True),
        ({"a": (int, 0)}, {"a": (int, ...)}, False),
        ({"a": (Literal["x"], ...)}, {"a": (Literal["x", "y"], ...)}, True),
        ({"a": (Literal["x", "y"], ...)}, {"a": (Literal["x"], ...)}, False),
        ({"a": (Literal["x", "y"], ...)}, {"a": (str, ...)}, True),
        ({"a": (str, ...)}, {"a": (Literal["x"], ...)}, False),
        ({"a": (list[int], ...)}, {"a": (list[int | None], ...)}, True),
        ({"a": (list[int | None], ...)}, {"a": (list[int], ...)}, False),
        ({"a": (_Addr, ...)}, {"a": (_Addr | None, None)}, True),
        ({"a": (_Addr, ...)}, {"a": (_Addr2, ...)}, False),  # nested new field: not tracked
        ({"a": (int, ...)}, {}, True),
    ],
)
def test_relaxes(old: dict[str, Any], new: dict[str, Any], expected: bool) -> None:
    assert relaxes(_model(**old), _model(**new)) is expected


def test_relaxes_distrusts_retired_fields_and_forbidden_extras() -> None:
    old, new = _model(a=(int, ...)), _model(a=(int, ...), b=(int | None, None))
    assert relaxes(old, new) and not relaxes(old, new, frozenset({"b"}))
    forbid = _schema(pydantic.create_model("F", __config__=pydantic.ConfigDict(extra="forbid"), a=(int, ...)))
    assert not relaxes(old, forbid)
    assert relaxes(forbid, forbid)
