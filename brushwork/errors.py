"""The exception hierarchy of brushwork.

    BrushworkError
    ├── ValidationError        bad user input (HTTP 400)
    │   └── PromptValidationError   a prompt that fails graph validation
    ├── AuthenticationError    a missing, unknown or revoked API token (401)
    ├── PermissionDeniedError  a token without the route's scope, or a foreign origin (403)
    ├── NotFoundError          an id, file or node class that does not exist (404)
    ├── ConflictError          a state conflict, such as a stale stream version (409)
    │   └── ConcurrencyError   an append whose stream version is already taken
    ├── LimitExceededError     a queue, size or rate limit (429 or 413)
    ├── ProviderError          an external AI provider failed
    ├── NodeTimeoutError       a node ran past its configured timeout
    ├── CancelledByUserError   a run stopped by an interrupt
    └── StorageError           the event store or artifact store failed

Every error carries a stable ``code`` string, an HTTP ``status`` and a
``retryable`` flag that schedulers read instead of matching messages.
"""

from __future__ import annotations

from typing import Any


class BrushworkError(Exception):
    code = "brushwork_error"
    status = 500
    retryable = False

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_json(self) -> dict[str, Any]:
        return {"error": {"type": self.code, "message": self.message, "details": self.details}}


class ValidationError(BrushworkError):
    code = "invalid_request"
    status = 400


class PromptValidationError(ValidationError):
    """A prompt that failed validation, carrying ComfyUI's error body."""

    code = "prompt_validation_failed"

    def __init__(self, body: dict[str, Any]) -> None:
        error = body.get("error", {})
        super().__init__(str(error.get("message", "invalid prompt")))
        self.body = body

    def to_json(self) -> dict[str, Any]:
        return self.body


class AuthenticationError(BrushworkError):
    code = "unauthorized"
    status = 401


class PermissionDeniedError(BrushworkError):
    code = "forbidden"
    status = 403


class NotFoundError(BrushworkError):
    code = "not_found"
    status = 404


class ConflictError(BrushworkError):
    code = "conflict"
    status = 409


class ConcurrencyError(ConflictError):
    """An append whose (stream, version) is already taken by another event."""

    code = "stream_version_conflict"
    retryable = True

    def __init__(self, stream_id: str, version: int) -> None:
        super().__init__(
            f"stream {stream_id!r} already has an event at version {version}; "
            "reload the stream and retry",
            details={"stream_id": stream_id, "version": version},
        )
        self.stream_id = stream_id
        self.version = version


class LimitExceededError(BrushworkError):
    code = "limit_exceeded"
    status = 429
    retryable = True

    def __init__(
        self, message: str, *, status: int = 429, retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.retry_after = retry_after


class ProviderError(BrushworkError):
    code = "provider_error"
    status = 502

    def __init__(
        self, message: str, *, provider: str, retryable: bool = False,
        may_have_charged: bool = False, http_status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.provider = provider
        self.retryable = retryable
        self.may_have_charged = may_have_charged
        self.http_status = http_status


class NodeTimeoutError(BrushworkError):
    code = "node_timeout"
    status = 504


class CancelledByUserError(BrushworkError):
    code = "interrupted"
    status = 409


class StorageError(BrushworkError):
    code = "storage_error"
    status = 503
    retryable = True


class InvalidJSONError(ValidationError):
    code = "invalid_json"
