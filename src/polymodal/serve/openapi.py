"""The OpenAPI document (/openapi.json, /docs) of the server as started: what each endpoint reads and
every answer it can give, so that a client generated from it, or a fuzzer, meets no surprise.

FastAPI derives most of it from the routes. What it cannot see is added here: the form fields the
endpoints read by hand (to check each upload before a model sees it), the names of the served runs as
the values `run` takes, and the access policy's answers on every operation but /health: 401 and 403
when keys are required (with the two ways to send one as security schemes), 429 under a rate limit.
They are declared only when configured: the document of an open server promises no 401."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ..schema import FILE_ROLES
from .access import OPEN_PATHS
from .schemas import ErrorBody
from .targets import ENDPOINTS, Served

FILE = {"type": "string", "format": "binary"}
MEDIA_TYPES = ("image/*", "audio/*", "video/*", "application/octet-stream")
RUN_PARAMETERS = {**{endpoint: kind for kind, endpoint in ENDPOINTS.items()}, "/media/{run}/{row}": "index"}
SECURITY = {"bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer KEY"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}


def errors(*codes: int) -> dict[int, dict]:
    """`responses=` for a route: `{"detail": ...}` bodies with these status codes."""
    return {code: {"model": ErrorBody, "description": HTTPStatus(code).phrase} for code in codes}


def form_body(description: str, properties: dict[str, dict], *, closed: bool = True, **schema: Any) -> dict:
    """`openapi_extra=` for a route that reads a multipart form: its fields, and (closed) no others."""
    body = {"type": "object", "properties": properties, "additionalProperties": not closed, **schema}
    return {"requestBody": {"description": description, "required": True,
                            "content": {"multipart/form-data": {"schema": body}}}}


def predictor_fields(served: dict[str, Served]) -> dict[str, dict]:
    """The form fields of the served predictors: a file per image/audio column, a value per other column."""
    fields: dict[str, dict] = {}
    for s in served.values():
        for f in s.service.fields() if s.kind == "predictor" else ():
            value = {"type": "number"} if f.role == "numeric" else {"type": "string"}
            fields.setdefault(f.name, {**(FILE if f.role in FILE_ROLES else value), "description": f.role})
    return fields


def install(app: FastAPI, served: dict[str, Served], *, keys: bool, rate_limit: bool) -> None:
    """Make `app.openapi()` return the document described in the module docstring (built once)."""

    def document() -> dict:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            name_runs(doc, served)
            declare_access(doc, keys=keys, rate_limit=rate_limit)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = document


def name_runs(doc: dict, served: dict[str, Served]) -> None:
    """`run` takes the names of the served runs of the endpoint's kind (a kind none is served of stays open)."""
    for path, kind in RUN_PARAMETERS.items():
        names = [s.name for s in served.values() if s.kind == kind]
        for operation in doc["paths"].get(path, {}).values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "run" and names:
                    parameter["schema"] = {"type": "string", "enum": names, "title": "Run"}


def declare_access(doc: dict, *, keys: bool, rate_limit: bool) -> None:
    answers = {}
    if keys:
        doc.setdefault("components", {})["securitySchemes"] = SECURITY
        doc["security"] = [{name: []} for name in SECURITY]
        answers[401] = access_error(401, "WWW-Authenticate", "string", "Bearer, naming the realm")
        answers[403] = access_error(403)
    if rate_limit:
        answers[429] = access_error(429, "Retry-After", "integer", "seconds until the window has room")
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            if path in OPEN_PATHS:  # never guarded nor throttled
                operation["security"] = []
            else:
                operation["responses"].update({str(code): answer for code, answer in answers.items()})


def access_error(code: int, header: str | None = None, kind: str = "string", description: str = "") -> dict:
    answer = {"description": HTTPStatus(code).phrase,
              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    if header:
        answer["headers"] = {header: {"required": True, "description": description, "schema": {"type": kind}}}
    return answer
