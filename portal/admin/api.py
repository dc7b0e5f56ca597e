"""The console's JSON API: one decorator declares an operation (its path, method, who may call
it, its body as a pydantic model and what it answers), registers the Flask route, and feeds the
OpenAPI document served at /api/v1/openapi.json. The pages call the same functions the API does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError

from netctl.protocol import ApiError
from portal.admin.errors import ApiRefused, from_netd
from portal.admin.i18n import tr
from portal.admin.roles import Capability
from portal.admin.session import call, requires

API_PREFIX = "/api/v1"
INVALID = ("Isian tidak sah.", "The input is not valid.")
M = TypeVar("M", bound=BaseModel)
RULE_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
PARAM_TYPES = {"int": {"type": "integer", "minimum": 0}, "string": {"type": "string"}}


def api_error(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> Any:
    """The JSON error body every API refusal uses."""
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    response = jsonify(error=body)
    response.status_code = status
    return response


def field_errors(exc: ValidationError) -> dict[str, str]:
    """A pydantic error as {"field.path": "message"}."""
    out: dict[str, str] = {}
    for error in exc.errors():
        path = ".".join(str(p) for p in error["loc"]) or "(body)"
        out.setdefault(path, error["msg"])
    return out


def parse_form(model: type[BaseModel]) -> Any:
    """The request's form fields (a multipart body's text parts but its CSRF token; an empty one
    counts as not given) as `model`, or ApiRefused(422) naming each bad field; the files stay in
    `request.files`."""
    fields = {k: v for k, v in request.form.items() if k != "csrf_token" and v != ""}
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise ApiRefused(422, "invalid", "the form has invalid fields", field_errors(exc)) from None


def parse_body(model: type[BaseModel]) -> Any:
    """The request's JSON body as `model`, or ApiRefused(422) naming each bad field."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiRefused(422, "invalid", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiRefused(422, "invalid", "the body has invalid fields", field_errors(exc)) from None


@dataclass
class Operation:
    """One documented API operation."""

    rule: str
    method: str
    capability: Capability
    summary: str
    body: type[BaseModel] | None
    response: dict[str, Any]
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: int = 200
    form: type[BaseModel] | None = None
    files: dict[str, bool] = field(default_factory=dict)


def api(
    bp: Blueprint,
    rule: str,
    *,
    method: str = "GET",
    capability: Capability,
    summary: str,
    body: type[BaseModel] | None = None,
    response: dict[str, Any] | None = None,
    query: dict[str, dict[str, Any]] | None = None,
    status: int = 200,
    form: type[BaseModel] | None = None,
    files: dict[str, bool] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., ResponseReturnValue]]:
    """Declare `method rule` (under /api/v1) on `bp`. The view gets the parsed body as `body`
    when there is one and returns JSON-able data; ApiRefused becomes a JSON error. A multipart
    body instead: `form` (its text fields, given to the view parsed as `form`) and `files`
    (file field name: required), which the view reads from `request.files`."""
    operation = Operation(rule, method, capability, summary, body,
                          response or {"type": "object"}, query or {}, status, form,
                          files or {})  # fmt: skip
    bp_ops: list[Operation] = bp.__dict__.setdefault("api_operations", [])
    bp_ops.append(operation)

    def decorate(view: Callable[..., Any]) -> Callable[..., ResponseReturnValue]:
        @functools.wraps(view)
        def endpoint(**kwargs: Any) -> ResponseReturnValue:
            try:
                if body is not None:
                    kwargs["body"] = parse_body(body)
                if form is not None:
                    kwargs["form"] = parse_form(form)
                result = view(**kwargs)
            except ApiRefused as exc:
                return api_error(exc.status, exc.code, str(exc), exc.fields)
            response = jsonify(result)
            response.status_code = status
            return response

        name = "api_" + view.__name__
        guarded = requires(capability)(endpoint)
        bp.add_url_rule(API_PREFIX + rule, name, guarded, methods=[method])
        return guarded

    return decorate


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = [
        {"name": name, "in": "path", "required": True,
         "schema": PARAM_TYPES.get(kind or "string", {"type": "string"})}
        for kind, name in RULE_PARAM.findall(rule)
    ]  # fmt: skip
    return RULE_PARAM.sub(lambda m: "{" + m.group(2) + "}", rule), params


def _multipart(op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    """A multipart/form-data request body: the form model's fields, then the files."""
    schema: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    if op.form is not None:
        schema = op.form.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schema.setdefault("required", [])
    for name, required in op.files.items():
        schema["properties"][name] = {
            "type": "string",
            "contentMediaType": "application/octet-stream",
        }
        if required:
            schema["required"].append(name)
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


def openapi_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every operation the app's blueprints declared."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for bp in app.blueprints.values():
        for op in bp.__dict__.get("api_operations", []):
            path, params = _path(API_PREFIX + op.rule)
            params += [
                {"name": name, "in": "query", "required": False, "schema": schema}
                for name, schema in op.query.items()
            ]
            entry: dict[str, Any] = {
                "summary": op.summary,
                "operationId": f"{bp.name}.{op.method.lower()}{path.replace('/', '_')}",
                "tags": [bp.name],
                "description": f"Peran / role needed: {op.capability}.",
                "parameters": params,
                "responses": {
                    str(op.status): {
                        "description": "OK",
                        "content": {"application/json": {"schema": op.response}},
                    },
                    "401": {"$ref": "#/components/responses/Error"},
                    "403": {"$ref": "#/components/responses/Error"},
                    "422": {"$ref": "#/components/responses/Error"},
                },
            }
            if op.body is not None:
                schema = op.body.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[op.body.__name__] = schema
                entry["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {
                        "schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}},
                }  # fmt: skip
            if op.form is not None or op.files:
                entry["requestBody"] = _multipart(op, schemas)
            paths.setdefault(path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Simpul admin API",
            "version": "1",
            "description": "Everything the console's pages do. Authenticate with "
            "`Authorization: Bearer <token>` (a token made on the user's page); a browser "
            "session must send its CSRF token in `X-CSRF-Token` for changes.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {
                    "description": "Refused",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["error"],
                                "properties": {"error": {"type": "object"}},
                            }
                        }
                    },
                }
            },
        },
        "security": [{"bearer": []}],
    }


def netd_call(method: str, **params: Any) -> Any:
    """Call netd for the signed-in user; its refusal or absence becomes ApiRefused."""
    try:
        return call(method, **params)
    except (ApiError, OSError) as exc:
        raise from_netd(exc) from None


def validated(model: type[M], data: dict[str, Any]) -> M:
    """Form or query data (strings) as `model`, or ApiRefused(422) naming each bad field."""
    try:
        return model.model_validate_strings(data)
    except ValidationError as exc:
        raise ApiRefused(422, "invalid", tr(*INVALID), field_errors(exc)) from None


def given(source: Any, *names: str) -> dict[str, str]:
    """The values `source` (a form or the query) holds for `names` (default: all of them),
    leaving out the empty ones (`?q=&page=2` searches nothing on page 2)."""
    return {name: source[name] for name in names or source if source.get(name, "") != ""}
