"""Reading a JSON request body into a Pydantic model, for endpoints that take only the request.

The answers are those of a FastAPI route with a declared body model: 415 unless the body is
declared JSON, and the same ``RequestValidationError`` (locations under ``body``) for a missing,
malformed or invalid body, which the app's handler turns into the 400 envelope naming the field.
``openapi_body`` documents such a body as a route with a body model would be documented.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request

M = TypeVar("M", bound=BaseModel)
REF = "#/components/schemas/{model}"
_DOCUMENTED: dict[str, type[BaseModel]] = {}


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_json(request: Request, model: type[M]) -> M:
    if not is_json(request.headers.get("content-type", "")):
        raise HTTPException(415)
    body = await request.body()
    if not body:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads ``model`` with ``read_json``."""
    _DOCUMENTED[model.__name__] = model
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def document_bodies(schema: dict[str, Any]) -> None:
    """Add the models named by ``openapi_body`` to the document's components."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, model in _DOCUMENTED.items():
        components.setdefault(name, model.model_json_schema(ref_template=REF))
