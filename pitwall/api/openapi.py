"""Make the generated OpenAPI document say what the server does on errors.

Litestar documents validation errors with its own body (``{status_code, detail, extra}``) while every error
of this API is ``{"error": str, "detail": any}`` (:mod:`pitwall.api.errors`), and it cannot know the 404/409/503
a handler raises through the store. :func:`document_errors` rewrites the document once at startup: every
4xx/5xx response uses the one error schema, and each operation lists the statuses it can answer — 400 when it
takes parameters or a body, 404 when its path or its input names a resource, 409 where a conflict is possible, 503 where
it needs the database — and ``export.parquet`` is ``application/octet-stream``; ``float | int`` unions become
``anyOf`` (as ``oneOf`` no whole number would match them).
"""

from __future__ import annotations

from typing import Final

from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, Operation, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType

ERROR_SCHEMA: Final = Schema(
    type=OpenAPIType.OBJECT,
    required=["error", "detail"],
    properties={"error": Schema(type=OpenAPIType.STRING, description="short reason"), "detail": Schema()},
    description='Every error: {"error": "<short>", "detail": …} (detail: a string, an object or a list).',
)

PARQUET_SCHEMA: Final = Schema(
    type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY, description="a Parquet file"
)

CONFLICTS: Final = frozenset(
    {
        "import_session",
        "start_session",
        "delete_session",
        "replay_start",
        "spectator_token_create",
    }
)
"""Operations that answer 409 (already imported, id taken, a live session, a replay already running…)."""

NO_DATABASE_NEEDED: Final = frozenset(
    {"health", "coach_concepts", "coach_agents", "coach_traces", "list_cars", "replay_status", "replay_stop"}
)
"""Operations that answer without the database (no 503)."""

DESCRIPTIONS: Final = {
    400: "Bad input: a parameter or body field that is missing, of the wrong type or out of range.",
    404: "Unknown resource (session, driver, track…), or nothing to analyse.",
    409: "Conflict with the stored state (already imported, id taken, live session, replay running).",
    503: "The database is not available.",
}


def _error_response(status: int) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=DESCRIPTIONS.get(status, "Error"),
        content={"application/json": OpenAPIMediaType(schema=ERROR_SCHEMA)},
    )


def _statuses(path: str, method: str, operation: Operation) -> set[int]:
    wanted = {int(code) for code in (operation.responses or {}) if str(code)[0] in "45"}
    if operation.parameters or operation.request_body is not None:
        wanted |= {400, 404}  # bad input; a session, driver or file named in it that does not exist
    if "{" in path:
        wanted.add(404)
    if operation.operation_id in CONFLICTS:
        wanted.add(409)
    if operation.operation_id not in NO_DATABASE_NEEDED and not path.startswith("/schema"):
        wanted.add(503)
    return wanted


def _number_unions(schema: object) -> None:
    """``float | int`` unions are ``oneOf: [number, integer]``, which a whole number such as ``0.0`` matches
    twice (so no value is valid): make them ``anyOf``, recursively."""
    if not isinstance(schema, Schema):
        return
    kinds = {getattr(s, "type", None) for s in schema.one_of or ()}
    if {OpenAPIType.NUMBER, OpenAPIType.INTEGER} <= kinds:
        schema.any_of, schema.one_of = schema.one_of, None
    for child in (
        *(schema.properties or {}).values(),
        schema.additional_properties,
        schema.items,
        *(schema.any_of or ()),
        *(schema.one_of or ()),
        *(schema.all_of or ()),
    ):
        _number_unions(child)


def document_errors(document: OpenAPI) -> OpenAPI:
    """Rewrite ``document`` in place (see the module doc) and return it."""
    for component in (document.components.schemas or {}).values() if document.components else ():
        _number_unions(component)
    for path, item in (document.paths or {}).items():
        for method in ("get", "post", "put", "patch", "delete"):
            operation: Operation | None = getattr(item, method, None)
            if operation is None:
                continue
            responses = dict(operation.responses or {})
            for status in _statuses(path, method, operation):
                responses[str(status)] = _error_response(status)
            if path.endswith("/export.parquet"):
                ok = responses.get("200")
                description = ok.description if isinstance(ok, OpenAPIResponse) else "Parquet file"
                responses["200"] = OpenAPIResponse(
                    description=description,
                    content={"application/octet-stream": OpenAPIMediaType(schema=PARQUET_SCHEMA)},
                )
            operation.responses = responses
    return document
