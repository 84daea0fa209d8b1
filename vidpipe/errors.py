"""The typed error family. Every error carries a stable code, a human message and a retry decision."""

from __future__ import annotations

import errno
import re


class VidpipeError(Exception):
    """Base of every error vidpipe raises on purpose."""

    code: str = "error"
    http_status: int = 500
    retryable: bool = False
    spends_attempt: bool = True  # a retry counts toward the job's attempt limit (see InfrastructureError)

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
    """A valid key whose role does not allow this (vidpipe.db.apikeys.ROLES)."""

    code = "forbidden"
    http_status = 403


# --- transient: retried with backoff -----------------------------------------------------------
class TransientError(VidpipeError):
    """A fault outside the input (network, storage, database); worth another attempt."""

    code = "transient"
    http_status = 503
    retryable = True


class InfrastructureError(TransientError):
    """Our own machinery is unavailable (disk full, media store or database down), not the input's fault.

    Retried with backoff for as long as it lasts, without spending the attempts meant for bad input."""

    code = "infrastructure_unavailable"
    spends_attempt = False
    retry_after_seconds = 5  # the API's Retry-After


class StorageError(InfrastructureError):
    code = "storage_error"


class StorageFullError(StorageError):
    code = "storage_full"


class DatabaseUnavailableError(InfrastructureError):
    code = "database_unavailable"


class JobCancelledError(VidpipeError):
    code = "cancelled"
    http_status = 409


class ConfigurationError(VidpipeError):
    """The deployment's configuration is unusable (malformed secret, missing key); a restart will not help."""

    code = "configuration_error"
    http_status = 500


class CloudServiceError(TransientError):
    """An AWS API call failed (throttled, unreachable, denied for now); worth another attempt."""

    code = "cloud_service_error"


class VectorSearchUnavailable(VidpipeError):
    """The database has no pgvector (e.g. a stock PostgreSQL 15): vector search cannot answer here."""

    code = "vector_search_unavailable"
    http_status = 501


class QueryModelUnavailable(VidpipeError):
    """No embedder for the requested modalities could be loaded (deps or weights missing)."""

    code = "search_model_unavailable"
    http_status = 503


class ModalityNotConfigured(QueryModelUnavailable):
    """Every modality asked for needs an embedder this server is not configured with (VIDPIPE_EMBEDDERS): the
    request cannot succeed here, however often it is retried, so it is the client's to change (422)."""

    http_status = 422


def spends_attempt(exc: BaseException) -> bool:
    """Whether a failure counts toward the job's attempt limit (infrastructure outages do not)."""
    return getattr(exc, "spends_attempt", True)


_FULL = (errno.ENOSPC, errno.EDQUOT)


def storage_error(exc: OSError, what: str) -> StorageError:
    """An OSError of the media store as our error: disk full is its own code; no path in the message."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in _FULL:
        return StorageFullError(f"{what}: the media store is full ({reason})")
    return StorageError(f"{what}: {reason}")


# An absolute path: "/" then at least one more "/"-separated part, not inside a URL (after ":" or a word).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/'\"`:,;()\[\]]+/)+([^\s/'\"`:,;()\[\]]*)")


def public_message(text: str) -> str:
    """A failure message fit for users: absolute server paths reduced to their last part."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1) or "…", text)


def is_retryable(exc: BaseException) -> bool:
    """Our own errors say so; unknown exceptions are treated as transient (bounded by max attempts)."""
    if isinstance(exc, VidpipeError):
        return exc.retryable
    return not isinstance(exc, (ValueError, TypeError, KeyError, MemoryError))
