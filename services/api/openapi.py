"""The OpenAPI document says what the API does: contract tests (schemathesis) hold it to that.

FastAPI's generated document misses the answers that come from outside a route's own code: the
413 of the body limit, the 401 of the token check, and, with ``CATALOG_API_AUTH=off``, the
absence of any token requirement. They are added here, once, from the routes themselves.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import Match

from shared.contract import CONTENT_PATTERN

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def documented_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, completed with the limits and auth answers every route may give."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    auth_off = app.state.api.settings.api_auth == "off"
    upload_body = schema.get("paths", {}).get("/v1/classify/upload", {}).get("post", {}).get("requestBody")
    if upload_body is not None:  # a form with nothing at all is refused like an empty one
        upload_body["required"] = True
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("400", _error_response("The body is not JSON (or not a form)."))
                responses.setdefault("413", _error_response("The body is larger than the limit."))
            if operation.get("security"):
                if auth_off:
                    del operation["security"]
                else:
                    responses.setdefault("401", _error_response("Missing or wrong bearer token."))
    if auth_off:
        schema.get("components", {}).pop("securitySchemes", None)
    upload = (
        schema.get("components", {}).get("schemas", {}).get("Body_classify_upload_v1_classify_upload_post")
    )
    if upload is not None:  # the form needs some content too (FastAPI cannot say it for a form)
        upload["anyOf"] = [
            {"required": ["title"], "properties": {"title": {"type": "string", "pattern": CONTENT_PATTERN}}},
            {
                "required": ["description"],
                "properties": {"description": {"type": "string", "pattern": CONTENT_PATTERN}},
            },
            {"required": ["image"], "properties": {"image": {"type": "string", "minLength": 1}}},
        ]
    schema.setdefault("components", {}).setdefault("schemas", {})
    app.openapi_schema = schema
    return schema


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every documented method of the routes matching ``path`` (the ``Allow`` header of a 405)."""
    methods: set[str] = set()
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    for route in app.routes:
        if isinstance(route, APIRoute) and route.matches(scope)[0] != Match.NONE:
            methods |= set(route.methods or ()) - {"HEAD"}
    return sorted(methods)
