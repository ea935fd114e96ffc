"""API plumbing shared by every app: the one error envelope and the pagination.

Every error leaves as ``{"error": {"code", "message", "details"}}``. Domain errors carry
their own code and details; the HTTP status comes from their ``http_status``.
"""

import django_filters
from django import forms
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from inventory.exceptions import DomainError

_DRF_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def error_body(code: str, message: str, details=None) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    from rest_framework.views import exception_handler as drf_exception_handler  # views import this module

    if isinstance(exc, exceptions.NotAuthenticated) and _sent_channel_key(context.get("request")):
        return Response(
            error_body(
                "channel_key_not_accepted",
                "This is a channel API key: it opens the channel API (availability, POS, reservations). "
                "Staff endpoints take a staff user's session or 'Authorization: Token <key>'.",
            ),
            status=status.HTTP_403_FORBIDDEN,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(code, "The request is not valid; see details.", exc.detail)
    else:
        response.data = error_body(code, str(exc.detail), None)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        response.status_code = status.HTTP_401_UNAUTHORIZED
    return response


def _sent_channel_key(request) -> bool:
    """The client authenticated the way channel clients do, at an endpoint that does not take it."""
    if request is None:
        return False
    return request.headers.get("Authorization", "").split(" ", 1)[0].lower() == "api-key"


class StandardPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000


class StrictIntegerField(serializers.IntegerField):
    """An integer that must arrive as a JSON integer: no strings, floats or booleans."""

    default_error_messages = {"strict": "Must be a whole number, not {type}."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("strict", type=type(data).__name__)
        return super().to_internal_value(data)


class _AnyValuesField(forms.MultipleChoiceField):
    def valid_value(self, value):
        return True


class MultiValueFilter(django_filters.MultipleChoiceFilter):
    """A filter taking the parameter repeated, ``?sku=A&sku=B``, matching any of the values."""

    field_class = _AnyValuesField
