"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document of every /api/v1 route, public, and
impossible to leave behind when a route is added."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import schemathesis
from openapi_spec_validator import validate
from starlette.requests import Request
from starlette.responses import Response

from tests.web.conftest import Site
from toolkit.web.access import Allow, GuardedRoute, route
from toolkit.web.api.openapi import UndocumentedRoute, api_operations, build_document
from toolkit.web.routes import all_routes

METHODS = ("get", "put", "post", "patch", "delete")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


async def sneaky(request: Request) -> Response:
    return Response("nothing to see")


def test_openapi_document_is_valid_openapi_3_1() -> None:
    document = build_document(all_routes())
    assert document["openapi"].startswith("3.1")
    # The specification's own schema, every JSON Schema in it, and every $ref resolved.
    validate(document)
    # And schemathesis, which the fuzz test drives with it, loads and accepts it.
    schemathesis.openapi.from_dict(document).validate()


def test_openapi_document_describes_every_api_route() -> None:
    document = build_document(all_routes())
    described = {(method, path) for method, path, _ in operations(document)}
    served = {(method, item.path) for method, item in api_operations(all_routes())}
    assert served and described == served
    assert all(path.startswith("/api/v1/") for _, path in described)


def test_openapi_build_fails_for_an_undocumented_route() -> None:
    routes = [*all_routes(), route("/api/v1/sneaky", sneaky, allow=Allow.employee, methods=["POST"])]
    with pytest.raises(UndocumentedRoute, match="POST /api/v1/sneaky"):
        build_document(routes)


def test_openapi_build_fails_for_a_description_whose_route_is_gone() -> None:
    routes = [r for r in all_routes() if getattr(r, "path", "") != "/api/v1/presets"]
    with pytest.raises(UndocumentedRoute, match="GET /api/v1/presets"):
        build_document(routes)


def test_openapi_build_ignores_routes_outside_the_api() -> None:
    routes = [*all_routes(), route("/sneaky-page", sneaky, allow=Allow.employee)]
    assert build_document(routes) == build_document(all_routes())


def test_openapi_access_errors_and_security_follow_each_route() -> None:
    document = build_document(all_routes())
    allowed = {(method, item.path): item.allow for method, item in api_operations(all_routes())}
    for method, path, operation in operations(document):
        allow = allowed[(method, path)]
        codes = set(operation["responses"])
        where = f"{method} {path}"
        assert {"401", "503"} <= codes, where
        assert any(code.startswith("2") for code in codes), where
        assert ("403" in codes) == (allow > Allow.employee or method != "GET"), where
        if "{" in path:
            assert "404" in codes, where
        assert operation["security"] == ([] if allow == Allow.anyone else [{"bearerAuth": []}]), where
        assert operation["x-allow"] == allow.name, where
        declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert declared == set(re.findall(r"\{([^}]+)\}", path)), where


def test_openapi_error_schema_is_the_api_error_shape() -> None:
    error = build_document(all_routes())["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message"]
    assert error["properties"]["error"]["additionalProperties"] is True


def test_openapi_document_is_public_and_served_as_built(site: Site) -> None:
    openapi_route = next(r for r in all_routes() if getattr(r, "path", "") == "/api/v1/openapi.json")
    assert isinstance(openapi_route, GuardedRoute) and openapi_route.allow == Allow.anyone
    response = site.browser().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == json.loads(json.dumps(build_document(all_routes())))


def test_openapi_document_holds_no_secrets(site: Site) -> None:
    token = site.token_for("admin")
    text = site.browser().get("/api/v1/openapi.json", headers=token).text
    assert site.portal.settings.secret_key not in text
    assert token["authorization"].split()[1] not in text
    assert "@example.com" not in text
