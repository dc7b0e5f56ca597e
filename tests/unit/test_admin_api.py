"""The JSON API's machinery (portal.admin.api): the OpenAPI document against the routes the app
really has, the `@api` decorator, and the helpers that parse bodies, forms and queries."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask, request
from pydantic import BaseModel, Field, ValidationError, model_validator
from werkzeug.datastructures import MultiDict

from netctl.protocol import ApiError
from portal.admin.api import (
    API_PREFIX,
    ApiRefused,
    api,
    api_error,
    field_errors,
    given,
    netd_call,
    openapi_document,
    parse_body,
    parse_form,
    validated,
)
from tests.unit.admin_helpers import FakeNetd, make_app, role_clients, sign_in

RULE_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture
def document(app: Flask) -> dict[str, Any]:
    return openapi_document(app)


def api_routes(app: Flask) -> dict[tuple[str, str], Any]:
    """(OpenAPI path, method) → the url_map rule, for every /api/v1 route but the document."""
    routes = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX + "/") or rule.endpoint == "openapi":
            continue
        path = RULE_PARAM.sub(lambda m: "{" + m.group(2) + "}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            routes[(path, method.lower())] = rule
    return routes


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


# -- the OpenAPI document ------------------------------------------------------------------------


def test_every_api_route_is_documented_with_its_method(
    app: Flask, document: dict[str, Any]
) -> None:
    routes = api_routes(app)
    documented = {(path, method) for path, method, _op in operations(document)}
    assert len(routes) > 40
    assert set(routes) - documented == set(), "routes missing from the document"
    assert documented - set(routes) == set(), "documented operations with no route"
    assert all(method in HTTP_METHODS for _path, method in documented)
    assert ("/api/v1/openapi.json", "get") not in documented


def test_the_documented_role_is_the_one_enforced(app: Flask, document: dict[str, Any]) -> None:
    routes = api_routes(app)
    for path, method, operation in operations(document):
        enforced = app.view_functions[routes[(path, method)].endpoint].capability
        assert operation["description"] == f"Peran / role needed: {enforced}.", path


def test_path_parameters_are_typed(app: Flask, document: dict[str, Any]) -> None:
    routes = api_routes(app)
    typed = 0
    for path, method, operation in operations(document):
        rule = routes[(path, method)]
        in_path = {p["name"]: p for p in operation["parameters"] if p["in"] == "path"}
        assert set(in_path) == set(rule.arguments), path
        for name, parameter in in_path.items():
            assert parameter["required"] is True
            converter = type(rule._converters[name]).__name__
            expected = "integer" if converter == "IntegerConverter" else "string"
            assert parameter["schema"]["type"] == expected, (path, name)
            typed += expected == "integer"
            assert "{" + name + "}" in path
    assert typed >= 1  # /vouchers/{batch}


def test_query_parameters_are_documented(document: dict[str, Any]) -> None:
    clients = document["paths"]["/api/v1/clients"]["get"]["parameters"]
    assert {p["name"] for p in clients if p["in"] == "query"} == {"q", "site", "page"}
    assert all(p["required"] is False for p in clients)


def test_json_bodies_are_refs_to_their_own_model(app: Flask, document: dict[str, Any]) -> None:
    bodies = 0
    for blueprint in app.blueprints.values():
        for op in blueprint.__dict__.get("api_operations", []):
            path = RULE_PARAM.sub(lambda m: "{" + m.group(2) + "}", API_PREFIX + op.rule)
            entry = document["paths"][path][op.method.lower()]
            if op.body is None:
                assert "application/json" not in entry.get("requestBody", {}).get("content", {})
                continue
            bodies += 1
            content = entry["requestBody"]["content"]
            assert entry["requestBody"]["required"] is True and list(content) == [
                "application/json"
            ]
            ref = content["application/json"]["schema"]
            assert ref == {"$ref": f"#/components/schemas/{op.body.__name__}"}
            # Two models of one name would share a component: the document must hold this one.
            own = op.body.model_json_schema(ref_template="#/components/schemas/{model}")
            defs = own.pop("$defs", {})
            assert resolve(document, ref["$ref"]) == own, path
            for name, schema in defs.items():
                assert document["components"]["schemas"][name] == schema, (path, name)
    assert bodies >= 10


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    found = list(refs(document))
    assert found
    for ref in found:
        assert resolve(document, ref) is not None


MULTIPART = [
    ("/api/v1/portal/videos", {"file"}, {"poster"}, {"title"}),
    ("/api/v1/lists", {"file"}, set(), {"name", "category"}),
]


@pytest.mark.parametrize(("path", "required_files", "optional_files", "required_fields"),
                         MULTIPART)  # fmt: skip
def test_multipart_operations_are_documented(
    document: dict[str, Any],
    path: str,
    required_files: set[str],
    optional_files: set[str],
    required_fields: set[str],
) -> None:
    body = document["paths"][path]["post"]["requestBody"]
    assert body["required"] is True and list(body["content"]) == ["multipart/form-data"]
    schema = body["content"]["multipart/form-data"]["schema"]
    for name in required_files | optional_files:
        assert schema["properties"][name] == {
            "type": "string", "contentMediaType": "application/octet-stream"}  # fmt: skip
    assert set(schema["required"]) == required_files | required_fields
    assert required_fields <= set(schema["properties"])
    assert "csrf_token" not in schema["properties"]


def test_operation_ids_are_unique_and_everything_has_a_summary(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _p, _m, op in operations(document)]
    assert len(ids) == len(set(ids))
    for path, _method, operation in operations(document):
        assert operation["summary"].strip(), path
        assert {"401", "403", "422"} <= set(operation["responses"])
        ok = [code for code in operation["responses"] if code.startswith("2")]
        assert len(ok) == 1, path


def test_the_document_header(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer"}  # fmt: skip
    assert list(document["paths"]) == sorted(document["paths"])


def test_the_document_is_served_to_every_signed_in_role(
    app: Flask, document: dict[str, Any]
) -> None:
    assert app.test_client().get("/api/v1/openapi.json").status_code == 401
    for role, browser in role_clients(app).items():
        response = browser.get("/api/v1/openapi.json")
        assert response.status_code == 200, role
        assert response.json == document


# -- the decorator -------------------------------------------------------------------------------


class Thing(BaseModel):
    model_config = {"extra": "forbid"}
    count: int = Field(ge=1, le=10)
    label: str = ""


class Upload(BaseModel):
    model_config = {"extra": "forbid"}
    title: str = Field(min_length=1)
    note: str = "-"


@pytest.fixture
def trial_app(tmp_path: Path, netd: FakeNetd) -> Flask:
    """The console with one more blueprint of test operations."""
    app = make_app(tmp_path, netd)
    bp = Blueprint("uji", __name__)

    @api(bp, "/uji/<int:number>", method="POST", capability="operate", summary="Make a thing",
         body=Thing, status=201, response={"type": "object"})  # fmt: skip
    def post_thing(number: int, body: Thing) -> dict[str, Any]:
        if number == 404:
            raise ApiRefused(404, "not-found", "no such thing")
        return {"number": number, "count": body.count, "label": body.label}

    @api(bp, "/uji-berkas", method="POST", capability="configure", summary="Upload a thing",
         form=Upload, files={"file": True})  # fmt: skip
    def post_upload(form: Upload) -> dict[str, Any]:
        file = request.files.get("file")
        if file is None:
            raise ApiRefused(422, "invalid", "no file", {"file": "required"})
        return {"title": form.title, "note": form.note, "size": len(file.read())}

    @api(bp, "/uji-kosong", capability="view", summary="Nothing")
    def get_nothing() -> None:
        return None

    app.register_blueprint(bp)
    return app


def test_the_decorator_parses_the_body_and_answers_with_its_status(trial_app: Flask) -> None:
    operator = sign_in(trial_app, "operator")
    made = operator.send("POST", "/api/v1/uji/3", {"count": 2, "label": "x"})
    assert made.status_code == 201 and made.json == {"number": 3, "count": 2, "label": "x"}
    assert operator.get("/api/v1/uji-kosong").json is None
    refused = operator.send("POST", "/api/v1/uji/404", {"count": 2})
    assert refused.status_code == 404
    assert refused.json == {"error": {"code": "not-found", "message": "no such thing"}}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"count": 0}, {"count"}),
        ({"count": 11, "label": 5}, {"count", "label"}),
        ({"count": 1, "colour": "red"}, {"colour"}),
        ({}, {"count"}),
        ([1], None),
        ("count", None),
        (None, None),
    ],
)
def test_the_decorator_refuses_a_bad_body(
    trial_app: Flask, body: Any, fields: set[str] | None
) -> None:
    operator = sign_in(trial_app, "operator")
    response = operator.send("POST", "/api/v1/uji/3", body)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "invalid"
    assert (set(error["fields"]) if "fields" in error else None) == fields


def test_the_decorator_enforces_the_capability(trial_app: Flask) -> None:
    reviewer = sign_in(trial_app, "reviewer")
    response = reviewer.send("POST", "/api/v1/uji/3", {"count": 2})
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
    assert reviewer.get("/api/v1/uji-kosong").status_code == 200
    assert trial_app.test_client().get("/api/v1/uji-kosong").status_code == 401


def test_the_decorator_takes_a_multipart_form(trial_app: Flask) -> None:
    admin = sign_in(trial_app, "admin")
    csrf = {"X-CSRF-Token": admin.token}
    upload = {"title": "Selamat datang", "note": "", "file": (io.BytesIO(b"12345"), "a.mp4")}
    sent = admin.client.post("/api/v1/uji-berkas", headers=csrf, data=upload)
    assert sent.status_code == 200
    assert sent.json == {"title": "Selamat datang", "note": "-", "size": 5}
    bad = admin.client.post("/api/v1/uji-berkas", headers=csrf, data={"title": "", "extra": "x"})
    assert bad.status_code == 422 and set(bad.json["error"]["fields"]) == {"title", "extra"}


def test_the_decorators_operations_are_documented(trial_app: Flask) -> None:
    document = openapi_document(trial_app)
    post = document["paths"]["/api/v1/uji/{number}"]["post"]
    assert post["operationId"] == "uji.post_api_v1_uji_{number}"
    assert post["tags"] == ["uji"] and post["summary"] == "Make a thing"
    assert post["parameters"] == [{"name": "number", "in": "path", "required": True,
                                   "schema": {"type": "integer", "minimum": 0}}]  # fmt: skip
    assert "201" in post["responses"] and "200" not in post["responses"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Thing"}  # fmt: skip
    assert document["components"]["schemas"]["Thing"]["required"] == ["count"]
    upload = document["paths"]["/api/v1/uji-berkas"]["post"]["requestBody"]
    schema = upload["content"]["multipart/form-data"]["schema"]
    assert set(schema["properties"]) == {"title", "note", "file"}
    assert schema["required"] == ["title", "file"]
    assert "get" in document["paths"]["/api/v1/uji-kosong"]


# -- helpers -------------------------------------------------------------------------------------


class Query(BaseModel):
    model_config = {"extra": "forbid"}
    q: str = ""
    page: int = Field(default=1, ge=1)
    site: str | None = None


@pytest.mark.parametrize(
    ("query", "names", "expected"),
    [
        ("q=&page=2", (), {"page": "2"}),
        ("q=budi&page=", (), {"q": "budi"}),
        ("q=budi&page=2&x=1", ("q", "page"), {"q": "budi", "page": "2"}),
        ("page=2", ("q", "page"), {"page": "2"}),
        ("", (), {}),
        ("q=a&q=b", (), {"q": "a"}),
    ],
)
def test_given(app: Flask, query: str, names: tuple[str, ...], expected: dict[str, str]) -> None:
    with app.test_request_context(f"/?{query}"):
        assert given(request.args, *names) == expected
    assert given(MultiDict([("a", ""), ("b", "1")])) == {"b": "1"}


@pytest.mark.parametrize(
    ("data", "expected", "bad"),
    [
        ({}, Query(), None),
        ({"q": "budi", "page": "3"}, Query(q="budi", page=3), None),
        ({"page": "x"}, None, {"page"}),
        ({"page": "0"}, None, {"page"}),
        ({"page": "1.5"}, None, {"page"}),
        ({"zzz": "1"}, None, {"zzz"}),
    ],
)
def test_validated(
    app: Flask, data: dict[str, str], expected: Query | None, bad: set[str] | None
) -> None:
    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        if bad is None:
            assert validated(Query, data) == expected
            return
        with pytest.raises(ApiRefused) as refused:
            validated(Query, data)
    assert refused.value.status == 422 and refused.value.code == "invalid"
    assert set(refused.value.fields) == bad
    assert str(refused.value) == "The input is not valid."


def test_parse_form_drops_the_csrf_token_and_empty_fields(app: Flask) -> None:
    form = {"csrf_token": "abc", "title": "Video", "note": ""}
    with app.test_request_context("/", method="POST", data=form):
        assert parse_form(Upload) == Upload(title="Video", note="-")
    blank = {"csrf_token": "a", "title": ""}
    with (
        app.test_request_context("/", method="POST", data=blank),
        pytest.raises(ApiRefused) as refused,
    ):
        parse_form(Upload)
    assert refused.value.status == 422 and set(refused.value.fields) == {"title"}


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"json": {"count": 2}}, None),
        ({"json": {"count": "x"}}, {"count"}),
        ({"json": [{"count": 2}]}, set()),
        ({"json": None}, set()),
        ({"data": "{not json", "content_type": "application/json"}, set()),
        ({"data": "count=2"}, set()),
    ],
)
def test_parse_body(app: Flask, kwargs: dict[str, Any], fields: set[str] | None) -> None:
    with app.test_request_context("/", method="POST", **kwargs):
        if fields is None:
            assert parse_body(Thing) == Thing(count=2)
            return
        with pytest.raises(ApiRefused) as refused:
            parse_body(Thing)
    assert refused.value.status == 422 and set(refused.value.fields) == fields


class Nested(BaseModel):
    things: list[Thing]

    @model_validator(mode="after")
    def not_empty(self) -> Nested:
        if not self.things:
            raise ValueError("at least one thing")
        return self


def test_field_errors_name_the_path() -> None:
    with pytest.raises(ValidationError) as bad:
        Nested.model_validate({"things": [{"count": 1}, {"count": 0}, {"count": 1, "x": 1}]})
    assert list(field_errors(bad.value)) == ["things.1.count", "things.2.x"]
    with pytest.raises(ValidationError) as whole:
        Nested.model_validate({"things": []})
    assert list(field_errors(whole.value)) == ["(body)"]


def test_api_error(app: Flask) -> None:
    with app.test_request_context("/"):
        plain = api_error(409, "conflict", "later")
        detailed = api_error(422, "invalid", "bad", {"a": "no"})
    assert plain.status_code == 409
    assert plain.json == {"error": {"code": "conflict", "message": "later"}}
    assert detailed.json == {"error": {"code": "invalid", "message": "bad", "fields": {"a": "no"}}}


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (ApiError("conflict", "x"), 409, "conflict"),
        (ApiError("pending", "x"), 409, "pending"),
        (ApiError("invalid", "x"), 422, "invalid"),
        (ApiError("unknown-client", "x"), 404, "unknown-client"),
        (ApiError("forbidden", "x"), 403, "forbidden"),
        (ApiError("unavailable", "x"), 503, "unavailable"),
        (ApiError("something-new", "x"), 502, "something-new"),
        (ConnectionRefusedError("no socket"), 503, "netd-unreachable"),
        (TimeoutError("slow"), 503, "netd-unreachable"),
    ],
)
def test_netd_call_turns_netds_refusal_into_a_refusal(
    app: Flask, netd: FakeNetd, failure: Exception, status: int, code: str
) -> None:
    netd.answers["config_revisions"] = failure
    with app.test_request_context("/"), pytest.raises(ApiRefused) as refused:
        netd_call("config_revisions", limit=3)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert netd.called("config_revisions") == [{"limit": 3}]  # nobody signed in: no on_behalf


def test_netd_call_names_the_signed_in_user(app: Flask, netd: FakeNetd) -> None:
    operator = sign_in(app, "operator")
    netd.calls.clear()
    assert operator.get("/api/v1/config/pending").json is None
    assert netd.calls == [("config_pending", {"on_behalf": "operator"})]
