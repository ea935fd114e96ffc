"""One JSON error envelope for everything under ``/api/`` and ``/webhooks/``, whoever answers.

DRF views answer through ``config.api.exception_handler``; this middleware covers what happens
outside them: a URL that matches no route (an unknown path, a reservation id that is not a UUID),
Django's own 400/404/500 pages, and bodies too large to read. A body is refused by its
``Content-Length`` before anything reads it, so an oversized request costs nothing and logs no
traceback.
"""

from http import HTTPStatus

from django.conf import settings
from django.http import JsonResponse

from config.api import error_body

#: Path prefixes whose clients are programs and get JSON errors; the admin keeps its HTML pages.
JSON_PREFIXES = ("/api/", "/webhooks/")
#: The envelope code for an error status Django answered with a page of its own.
_CODES = {
    HTTPStatus.BAD_REQUEST: "malformed_request",
    HTTPStatus.FORBIDDEN: "permission_denied",
    HTTPStatus.NOT_FOUND: "not_found",
    HTTPStatus.METHOD_NOT_ALLOWED: "method_not_allowed",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "payload_too_large",
    HTTPStatus.INTERNAL_SERVER_ERROR: "server_error",
}
_MESSAGES = {
    HTTPStatus.NOT_FOUND: "No such resource: check the path and the id in it.",
    HTTPStatus.INTERNAL_SERVER_ERROR: "Something went wrong on our side; the request may be retried.",
}


def body_limit(path: str) -> int:
    """The largest body a client may send to ``path``: webhooks have their own, smaller limit."""
    if path.startswith("/webhooks/"):
        return settings.WEBHOOK_MAX_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def error_response(status: int, code: str, message: str, details=None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)


class JsonErrorsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(JSON_PREFIXES):
            return self.get_response(request)
        refusal = _refuse_body(request)
        if refusal is not None:
            return refusal
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            return _as_envelope(response)
        return response


def _refuse_body(request) -> JsonResponse | None:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(declared)
    except ValueError:
        return error_response(400, "malformed_request", "The Content-Length header is not a number.")
    limit = body_limit(request.path)
    if length > limit:
        return error_response(
            413,
            "payload_too_large",
            f"The body is {length} bytes; at most {limit} bytes are accepted here.",
            {"limit_bytes": limit, "content_length": length},
        )
    return None


def _as_envelope(page) -> JsonResponse:
    """Django's HTML error page as the envelope, keeping the headers a client acts on."""
    status = page.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    response = error_response(status, _CODES.get(status, "error"), _MESSAGES.get(status, f"{phrase}."))
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if header in page:
            response[header] = page[header]
    return response
