"""The typed error family. Every error carries a stable code, a human message and a retry decision."""

from __future__ import annotations


class VidpipeError(Exception):
    """Base of every error vidpipe raises on purpose."""

    code: str = "error"
    http_status: int = 500
    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def __str__(self) -> str:
        return self.message


# --- bad input: permanent, never retried ---------------------------------------------------
class InputError(VidpipeError):
    """The input itself is unusable; retrying cannot help."""

    code = "invalid_input"
    http_status = 422


class UnsupportedMediaError(InputError):
    code = "unsupported_media"


class MediaDecodeError(InputError):
    code = "media_decode_error"


class LimitExceededError(InputError):
    code = "limit_exceeded"
    http_status = 413


class UnsafeSourceError(InputError):
    """A path outside the import roots, a URL to a private address, a hostile container."""

    code = "unsafe_source"
    http_status = 400


# --- API-level -------------------------------------------------------------------------------
class NotFoundError(VidpipeError):
    code = "not_found"
    http_status = 404


class ConflictError(VidpipeError):
    code = "conflict"
    http_status = 409


class AuthError(VidpipeError):
    code = "unauthorized"
    http_status = 401


class ForbiddenError(VidpipeError):
    """A valid key whose role does not allow this (vidpipe.store.apikeys.ROLES)."""

    code = "forbidden"
    http_status = 403


# --- transient: retried with backoff -----------------------------------------------------------
class TransientError(VidpipeError):
    """A fault outside the input (network, storage, database); worth another attempt."""

    code = "transient"
    http_status = 503
    retryable = True


class StorageError(TransientError):
    code = "storage_error"


class JobCancelledError(VidpipeError):
    code = "cancelled"
    http_status = 409


def is_retryable(exc: BaseException) -> bool:
    """Our own errors say so; unknown exceptions are treated as transient (bounded by max attempts)."""
    if isinstance(exc, VidpipeError):
        return exc.retryable
    return not isinstance(exc, (ValueError, TypeError, KeyError, MemoryError))
