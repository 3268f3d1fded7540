"""`GET /api/openapi.json`: the OpenAPI 3.1 description of every route (no token needed)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, json

from .storage import IDEMPOTENCY_KEY_LIFETIME, MAX_DESCRIPTION_LENGTH, MAX_IDEMPOTENCY_KEY_LENGTH
from .todolist import DESCRIPTION_PATTERN, GUID, IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_PATTERN

bp = Blueprint("openapi", __name__)

PROBLEM = "application/problem+json"
GUID_SCHEMA = {"type": "string", "format": "uuid", "pattern": GUID.pattern}
DESCRIPTION_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_DESCRIPTION_LENGTH,
    "pattern": DESCRIPTION_PATTERN,
    "description": f"1 to {MAX_DESCRIPTION_LENGTH} characters, at least one of them not "
    "white space, no NUL character.",
}


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _json_body(schema_ref: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


def _todo_response(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ToDo"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def _secured(
    operation: dict[str, Any], *statuses: str, unauthorized: str = "Unauthorized"
) -> dict[str, Any]:
    responses = operation["responses"]
    for status in statuses:
        responses[status] = _ref(f"Problem{status}")
    responses.update(
        {"401": _ref(unauthorized), "403": _ref("Forbidden"), "503": _ref("Unavailable")}
    )
    return operation


ID_PARAMETER = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The to-do's id (a 64-bit integer).",
    "schema": {"type": "integer", "format": "int64"},
}

IDEMPOTENCY_KEY_PARAMETER = {
    "name": IDEMPOTENCY_KEY_HEADER,
    "in": "header",
    "required": False,
    "description": "Optional: a key of the client's choosing (a new UUID per new to-do, say). "
    f"Repeated by the same caller within {IDEMPOTENCY_KEY_LIFETIME // 3600} hours with the same "
    "body, the request is not carried out again: the answer is the first one (the same status, "
    "body and Location). With another body it is a 422. Callers are separate: a user is known "
    "by their oid, an app by its client id.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH,
        "pattern": IDEMPOTENCY_KEY_PATTERN,
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "ToDoList API",
        "version": "1.0.0",
        "description": "The ToDoList API of the External ID samples. Users (delegated scopes "
        "ToDoList.Read / ToDoList.ReadWrite) see and change only their own to-dos; apps (roles "
        "ToDoList.Read.All / ToDoList.ReadWrite.All) see and change all of them. Paths are "
        "case-insensitive.",
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/todolist": {
            "get": _secured(
                {
                    "operationId": "listToDos",
                    "summary": "The caller's to-dos (a user's own; all of them for an app).",
                    "responses": {
                        "200": {
                            "description": "The to-dos, oldest first.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/ToDo"},
                                    }
                                }
                            },
                        }
                    },
                }
            ),
            "post": _secured(
                {
                    "operationId": "createToDo",
                    "summary": "Create a to-do (needs write permission).",
                    "parameters": [IDEMPOTENCY_KEY_PARAMETER],
                    "requestBody": _json_body("NewToDo"),
                    "responses": {
                        "201": _todo_response(
                            "The new to-do (or, for a repeated Idempotency-Key, the one the "
                            "first request created).",
                            {
                                "Location": {
                                    "required": True,
                                    "description": "/api/todolist/{id} of the new to-do.",
                                    "schema": {"type": "string"},
                                }
                            },
                        )
                    },
                },
                "400",
                "409",
                "413",
                "415",
                "422",
            ),
        },
        "/api/todolist/{id}": {
            "parameters": [ID_PARAMETER],
            "get": _secured(
                {
                    "operationId": "getToDo",
                    "summary": "One to-do (another user's is 404 to a user).",
                    "responses": {"200": _todo_response("The to-do.")},
                },
                "400",
                "404",
            ),
            "put": _secured(
                {
                    "operationId": "updateToDo",
                    "summary": "Change a to-do's description (needs write permission).",
                    "requestBody": _json_body("ToDoUpdate"),
                    "responses": {"200": _todo_response("The updated to-do.")},
                },
                "400",
                "404",
                "413",
                "415",
            ),
            "delete": _secured(
                {
                    "operationId": "deleteToDo",
                    "summary": "Delete a to-do (needs write permission; with "
                    "REQUIRE_MFA_FOR_DELETE, a token whose acrs lists MFA_AUTH_CONTEXT).",
                    "responses": {"204": {"description": "Deleted."}},
                },
                "400",
                "404",
                unauthorized="UnauthorizedOrClaims",
            ),
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Whether the API and its database answer (no token).",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Healthy.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["status"],
                                    "properties": {"status": {"const": "ok"}},
                                }
                            }
                        },
                    },
                    "503": _ref("Unavailable"),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document (no token).",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI 3.1 document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An External ID access token for this API (aud = its client id): "
                "delegated scopes ToDoList.Read/ToDoList.ReadWrite or app roles "
                "ToDoList.Read.All/ToDoList.ReadWrite.All.",
            }
        },
        "schemas": {
            "ToDo": {
                "type": "object",
                "required": ["id", "owner", "description"],
                "properties": {
                    "id": {"type": "integer", "format": "int64"},
                    "owner": {**GUID_SCHEMA, "description": "The owner's oid."},
                    "description": {"type": "string", "maxLength": MAX_DESCRIPTION_LENGTH},
                },
                "additionalProperties": False,
            },
            "NewToDo": {
                "type": "object",
                "required": ["description"],
                "properties": {
                    "description": DESCRIPTION_SCHEMA,
                    "owner": {
                        "type": ["string", "null"],
                        "format": "uuid",
                        "pattern": GUID.pattern,
                        "description": "Apps only: the new to-do's owner (null or absent: the "
                        "all-zero GUID). Checked but ignored for users, whose to-dos are always "
                        "their own.",
                    },
                },
                "description": "Member names are matched case-insensitively; others are ignored.",
            },
            "ToDoUpdate": {
                "type": "object",
                "required": ["description"],
                "properties": {"description": DESCRIPTION_SCHEMA},
                "description": "Only the description changes; other members are ignored.",
            },
            "Problem": {
                "type": "object",
                "description": "RFC 9457 problem details.",
                "required": ["type", "title", "status", "detail"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "instance": {"type": "string"},
                },
            },
        },
        "responses": {
            "Problem400": _problem(
                "Bad input: malformed JSON, a missing, empty, too long or non-string "
                "description, an owner that is not a GUID, an id that is not an integer, or a "
                "malformed Idempotency-Key."
            ),
            "Problem404": _problem("No such to-do (or one that belongs to another user)."),
            "Problem409": _problem(
                "The new to-do's owner already has as many to-dos as the API keeps per owner "
                "(MAX_ITEMS_PER_OWNER, default 1,000)."
            ),
            "Problem422": _problem(
                "The Idempotency-Key was used by this caller for a request with another body."
            ),
            "Problem413": _problem("The request body is larger than 64 KiB."),
            "Problem415": _problem("The request body is not JSON."),
            "UnauthorizedOrClaims": _problem(
                "No valid access token, or (REQUIRE_MFA_FOR_DELETE) one whose acrs lacks "
                "MFA_AUTH_CONTEXT: a claims challenge, `claims` the base64 of "
                '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}.',
                {
                    "WWW-Authenticate": {
                        "required": True,
                        "schema": {
                            "type": "string",
                            "pattern": '^Bearer (error="invalid_token"|realm="", '
                            'error="insufficient_claims", claims=")',
                        },
                    }
                },
            ),
            "Unauthorized": _problem(
                "No token, or one that is not a valid access token for this API.",
                {
                    "WWW-Authenticate": {
                        "required": True,
                        "schema": {"type": "string", "pattern": '^Bearer error="invalid_token"'},
                    }
                },
            ),
            "Forbidden": _problem(
                "A valid token without the permission this operation needs.",
                {
                    "WWW-Authenticate": {
                        "required": True,
                        "schema": {
                            "type": "string",
                            "pattern": '^Bearer error="insufficient_scope"',
                        },
                    }
                },
            ),
            "Unavailable": _problem(
                "The database or the tenant's signing keys are unavailable; retry later.",
                {"Retry-After": {"schema": {"type": "string"}}},
            ),
        },
    },
}


@bp.get("/api/openapi.json")
def document() -> Response:
    return Response(json.dumps(DOCUMENT), mimetype="application/json")
