"""Errors a service raises for a caller to show: a machine code and a sentence for a human."""


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
