"""GET /api/v1/openapi.json: an OpenAPI 3.1 description of every /api/v1 route.

The document is built at request time from the routing table (which paths and methods exist, who
may use them) and OPERATIONS in toolkit.web.api.operations (what each one takes and answers; the
shapes are in toolkit.web.api.schemas). A GuardedRoute under /api/v1 without an entry in
OPERATIONS, or an entry without a route, makes building fail with UndocumentedRoute, so the API
cannot grow an undocumented operation: tests/web/test_openapi.py builds it from the real routing
table, and tests/web/test_api_fuzz.py runs schemathesis against it.

Errors every operation shares are added from the route itself: 401 (no or a bad token), 403 where
the role is above employee or the method writes (CSRF on browser sessions), 404 for {id} paths,
400 for a JSON body, 412 where If-Match is honoured, 503 when the store does not answer.

The texts are English and not translated: the document is for developers, and one document per
language would make a description that changes with Accept-Language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import toolkit
from toolkit.web.access import SAFE_METHODS, Allow, GuardedRoute, route
from toolkit.web.api.operations import (
    ERROR_HEADERS,
    ERRORS,
    IDEMPOTENCY_KEY,
    IF_MATCH,
    OPERATIONS,
    PATH_PARAMETERS,
    Operation,
)
from toolkit.web.api.responses import json_response
from toolkit.web.api.schemas import SCHEMAS, ref
from toolkit.web.idempotency import is_idempotent

API_PREFIX = "/api/v1"
OPENAPI_VERSION = "3.1.0"


class UndocumentedRoute(RuntimeError):
    """A route under /api/v1 has no description in OPERATIONS (or a description has no route)."""


# Schemas


def _openapi_path(path: str) -> str:
    """Starlette's {name:convertor} as OpenAPI's {name}."""
    return re.sub(r"\{([^}:]+)(:[^}]+)?\}", r"{\1}", path)


def _path_parameters(path: str) -> list[dict[str, Any]]:
    parameters = []
    for name in re.findall(r"\{([^}]+)\}", path):
        if name not in PATH_PARAMETERS:
            raise UndocumentedRoute(f"path parameter {{{name}}} of {path} has no entry in PATH_PARAMETERS")
        description, schema = PATH_PARAMETERS[name]
        parameters.append(
            {"name": name, "in": "path", "required": True, "description": description, "schema": schema}
        )
    return parameters


def _error_codes(method: str, route: GuardedRoute, described: Operation) -> list[int]:
    codes = {401, 503, *described.errors}
    if is_idempotent(route.handler):
        codes.update((409, 422))
    if route.allow > Allow.employee or method not in SAFE_METHODS:
        codes.add(403)
    if "{" in route.path:
        codes.add(404)
    if described.body or described.form:
        codes.add(400)
    if IF_MATCH in described.parameters:
        codes.add(412)
    return sorted(codes)


_WHO = {
    Allow.anyone: "Anyone, without signing in.",
    Allow.employee: "Every signed-in person.",
    Allow.marketing: "Marketing and admins.",
    Allow.admin: "Admins only.",
}


def _operation(method: str, route: GuardedRoute, described: Operation, operation_id: str) -> dict[str, Any]:
    responses: dict[str, Any] = dict(described.responses)
    for code in _error_codes(method, route, described):
        responses[str(code)] = {"$ref": f"#/components/responses/{ERRORS[code][0]}"}
    found: dict[str, Any] = {
        "operationId": operation_id,
        "summary": described.summary,
        "description": " ".join(part for part in (_WHO[route.allow], described.description) if part),
        "tags": [described.tag],
        "x-allow": route.allow.name,
        "security": [] if route.allow == Allow.anyone else [{"bearerAuth": []}],
        "parameters": _path_parameters(route.path)
        + [dict(p) for p in described.parameters]
        + ([dict(IDEMPOTENCY_KEY)] if is_idempotent(route.handler) else []),
        "responses": dict(sorted(responses.items())),
    }
    if described.body:
        found["requestBody"] = {
            "required": described.body_required,
            "content": {"application/json": {"schema": ref(described.body)}},
        }
    elif described.form:
        found["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": ref(described.form),
                    "encoding": {"file": {"contentType": "image/*, application/octet-stream"}},
                }
            },
        }
    return found | dict(described.extra)


def api_operations(routes: Iterable[Any]) -> list[tuple[str, GuardedRoute]]:
    """(method, route) for every method of every guarded route under /api/v1, HEAD left out."""
    found = []
    for item in routes:
        if isinstance(item, GuardedRoute) and item.path.startswith(API_PREFIX + "/"):
            for method in sorted(set(item.methods or {"GET"}) - {"HEAD"}):
                found.append((method, item))
    return found


def build_document(routes: Iterable[Any]) -> dict[str, Any]:
    """The OpenAPI document of these routes; UndocumentedRoute when the table and the routes differ."""
    operations = api_operations(routes)
    missing = [f"{m} {r.path}" for m, r in operations if (m, r.path) not in OPERATIONS]
    if missing:
        raise UndocumentedRoute(
            "API routes without a description in toolkit/web/api/operations.py OPERATIONS: "
            + ", ".join(missing)
        )
    stale = sorted(set(OPERATIONS) - {(m, r.path) for m, r in operations})
    if stale:
        raise UndocumentedRoute(
            "OPERATIONS describes routes that do not exist: " + ", ".join(f"{m} {p}" for m, p in stale)
        )
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for method, item in operations:
        operation_id = item.name if item.name not in used_ids else f"{item.name}_{method.lower()}"
        used_ids.add(operation_id)
        described = OPERATIONS[(method, item.path)]
        paths.setdefault(_openapi_path(item.path), {})[method.lower()] = _operation(
            method, item, described, operation_id
        )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Ambassador Toolkit API",
            "version": toolkit.__version__,
            "description": (
                "Authenticate with an API token (`python -m toolkit token create EMAIL`) as "
                "`Authorization: Bearer <token>`; a signed-in browser session works too, with the "
                "X-CSRF-Token header on writes. Every error answers "
                '`{"error": {"code": "...", "message": "..."}}`. Writes to a record honour If-Match '
                "with the ETag its read returned."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in OPERATIONS.values())],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API token (tk_...)."}
            },
            "schemas": SCHEMAS,
            "responses": {
                name: {
                    "description": description,
                    "content": {"application/json": {"schema": ref("Error")}},
                    **({"headers": ERROR_HEADERS[code]} if code in ERROR_HEADERS else {}),
                }
                for code, (name, description) in ERRORS.items()
            },
        },
    }


async def openapi_document(request: Request) -> Response:
    """The OpenAPI description of the routes this app serves (public: it holds no secrets)."""
    return json_response(build_document(request.app.routes))


routes = [route("/api/v1/openapi.json", openapi_document, allow=Allow.anyone, name="openapi")]
