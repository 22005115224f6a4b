"""Errors a service raises for a caller to show: a machine code and a sentence for a human.

`json_error` is the one shape every JSON endpoint answers an error with (the update API, the
vendor API, the Stripe webhook, the metrics endpoint): ``{"code": …, "message": …}``.
"""

from __future__ import annotations

from django.http import JsonResponse


class DomainError(Exception):
    """A refused operation; `code` is stable for clients, `message` is for people."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


def json_error(code: str, message: str, status: int, **headers: str) -> JsonResponse:
    """Answer with a machine code and a sentence, never a bare status.

    Each keyword is a response header, its underscores written as dashes
    (``Retry_After="30"`` sends ``Retry-After: 30``).
    """
    response = JsonResponse({"code": code, "message": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response
