"""The API's error bodies: ``{"error", "message", "details"}``, with nothing internal in them.

Validation errors are reported by field (``body.title``), never by pydantic's internal names
(``function-after[...]``, union tags), each distinct error once.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.responses import JSONResponse

ERROR_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
               408: "request_timeout", 409: "conflict", 413: "too_large", 422: "invalid_input",
               429: "too_many_requests", 500: "internal", 503: "unavailable", 504: "timeout"}  # fmt: skip
UNION_TAGS = frozenset({"one", "many"})
"""The tags of ``schemas.OffersBody`` (one offer or many), which pydantic puts in error locations."""
_INTERNAL = re.compile(r"^[\w-]+\[.*\]$", re.DOTALL)


def error(status: int, message: str, details: list[Any] | None = None, headers: Any = None) -> JSONResponse:
    body = {"error": ERROR_CODES.get(status, "error"), "message": message, "details": details}
    return JSONResponse(body, status_code=status, headers=headers)


RETRY_AFTER_S = 5
"""What a 503 for a dependency outage asks the client to wait before retrying."""


def unavailable(what: str, exc: Exception) -> JSONResponse:
    """503 with ``Retry-After``: a dependency outage is not the client's fault (issue 24 D)."""
    return error(
        503,
        f"{what} is unavailable ({type(exc).__name__}); retry in a moment.",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def public_loc(loc: Any) -> list[Any]:
    """An error location without pydantic's internals: union tags and validator names."""
    parts = list(loc or ())
    if len(parts) > 1 and parts[0] == "body" and parts[1] in UNION_TAGS:
        del parts[1]
    return [p for p in parts if not (isinstance(p, str) and _INTERNAL.match(p))]


def public_errors(errors: Any) -> list[dict[str, Any]]:
    """Each distinct validation error once: its location, message and type."""
    out: list[dict[str, Any]] = []
    for err in errors:
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        item = {"loc": public_loc(err.get("loc")), "msg": msg, "type": err.get("type")}
        if item not in out:
            out.append(item)
    return out


def validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err["loc"] if p != "body")
        parts.append(f"{where or 'body'}: {err['msg']}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "Invalid request: " + "; ".join(parts) + more
