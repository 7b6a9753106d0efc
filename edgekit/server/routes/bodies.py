"""Request bodies parsed and validated in one pass by pydantic's JSON parser, for the routes a
fleet calls most: FastAPI's own body handling (JSON to Python objects, then validation, inside its
dependency machinery) costs several times that. Errors are FastAPI's own (422, same format), and
the OpenAPI document still describes the body (``document_bodies``)."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

Body = TypeVar("Body", bound=BaseModel)
_DOCUMENTED: dict[str, type[BaseModel]] = {}  # every model a route reads with validated_body


async def validated_body(request: Request, model: type[Body]) -> Body:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]) from None


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """The ``openapi_extra`` of a route that reads ``model`` with ``validated_body``."""
    _DOCUMENTED[model.__name__] = model
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def document_bodies(app: FastAPI) -> None:
    """Add the schemas of the bodies routes read with ``validated_body`` to ``app``'s OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schemas = generate().setdefault("components", {}).setdefault("schemas", {})
            for name, model in _DOCUMENTED.items():
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[name] = schema
        return app.openapi_schema

    app.openapi = openapi
