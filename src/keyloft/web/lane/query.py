"""Reading a query string into a Pydantic model, for endpoints that take only the request.

The answers are those of a FastAPI route declaring the same parameters with ``Query``: the
last value of a repeated parameter counts, unknown parameters are ignored, and an invalid
value raises the same ``RequestValidationError`` (locations under ``query``), which the app's
handler turns into the 400 envelope naming the parameter. ``openapi_parameters`` documents
the parameters as such a route would have them documented.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

M = TypeVar("M", bound=BaseModel)


def read_query(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("query", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None


def openapi_parameters(
    *, path: dict[str, dict[str, Any]] | None = None, query: type[BaseModel] | None = None
) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads ``path`` parameters (name: schema) from
    ``request.path_params`` and its query with ``read_query(request, query)``."""
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in (path or {}).items()
    ]
    if query is not None:
        schema = query.model_json_schema()
        required = set(schema.get("required", ()))
        for name, field_schema in schema["properties"].items():
            described = _without_null(field_schema)
            description = described.pop("description", None)
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": described,
            }
            if description:
                parameter["description"] = description
            parameters.append(parameter)
    return {"parameters": parameters}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without its null: a query says null by leaving it out."""
    described = {key: value for key, value in schema.items() if key not in ("anyOf", "title")}
    if "type" not in described:
        kinds = [kind for kind in schema.get("anyOf", ()) if kind.get("type") != "null"]
        described |= kinds[0] if len(kinds) == 1 else {"anyOf": kinds}
    if described.get("default", 0) is None:
        del described["default"]
    return described
