"""One JSON error shape for every 4xx/5xx: ``{"error": "<short>", "detail": …}``."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR


class ApiError(Exception):
    """Raise from a handler to answer ``status`` with ``{"error": error, "detail": detail}``."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail


def error_response(status: int, error: str, detail: Any = None) -> Response[dict[str, Any]]:
    return Response({"error": error, "detail": detail}, status_code=status, media_type=MediaType.JSON)


def _api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[dict[str, Any]]:
    return error_response(exc.status, exc.error, exc.detail)


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    return error_response(exc.status_code, "invalid request", exc.extra or exc.detail)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    return error_response(exc.status_code, str(exc.detail), exc.extra or None)


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[dict[str, Any]]:
    """JSON nested deeper than the decoder follows (``[[[[…]]]]`` a thousand deep) is bad input, not a crash."""
    request.logger.warning("refused a too deeply nested body on %s %s", request.method, request.url.path)
    return error_response(400, "invalid request", "the JSON body is nested too deeply")


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    request.logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "internal error", type(exc).__name__)


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    ApiError: _api_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    RecursionError: _too_deep,
    Exception: _unexpected,
}
