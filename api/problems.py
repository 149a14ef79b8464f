"""Every error of the API as RFC 9457 problem details (``application/problem+json``): the DRF
exception handler, the errors the API raises, and plain responses for URLs outside DRF."""

import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from artifacts.storage import is_storage_failure

PROBLEM = "application/problem+json"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the content's current state."
    default_code = "conflict"


class Gone(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "The content was deleted and cannot be retrieved."
    default_code = "gone"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class BadRequest(exceptions.ValidationError):
    """400 with ``errors`` per field: ``BadRequest({"start": "..."})``."""


def problem(status_code, detail, *, title=None, errors=None, **extra):
    """An RFC 9457 problem document (``type`` about:blank: the status says what kind it is)."""
    from http import HTTPStatus

    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def _field_errors(detail):
    """DRF / Django validation details as ``[{"field", "message"}]``."""
    if isinstance(detail, dict):
        return [
            {"field": field, "message": str(message)}
            for field, messages in detail.items()
            for message in (messages if isinstance(messages, list | tuple) else [messages])
        ]
    messages = detail if isinstance(detail, list | tuple) else [detail]
    return [{"field": None, "message": str(message)} for message in messages]


class StorageUnavailable(exceptions.APIException):
    """A storage failed the call: 503 with ``Retry-After``. Work it decided is finished by the resume."""

    status_code = 503
    default_detail = (
        "The storage failed this call; try again in a minute. A deletion it decided is final and is "
        "finished automatically (retried every minute)."
    )
    wait = 60


def exception_handler(exc, context):
    """Every error of the API as ``application/problem+json``; nothing is an HTML page."""
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        exc = PayloadTooLarge(f"The request body is too large ({exc}).")
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif is_storage_failure(exc):
        exc = StorageUnavailable()
    if not isinstance(exc, exceptions.APIException):
        return None  # a crash: the 500 handler answers with a problem too
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
    extra = getattr(exc, "extra", {}) or {}
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
        body = problem(exc.status_code, detail, errors=errors, **extra)
    else:
        body = problem(exc.status_code, str(exc.detail), **extra)
    return Response(body, status=exc.status_code, headers=headers, content_type=PROBLEM)


def problem_response(request, status_code, detail):
    """A plain Django response with a problem (URLs the API does not know, crashes)."""
    return JsonResponse(problem(status_code, detail, instance=request.path), status=status_code, content_type=PROBLEM)
