"""Failures as a user of the command line should see them: one readable line, no traceback, no server paths."""

from __future__ import annotations

from vidpipe.errors import VidpipeError, public_message, storage_error


def as_user_error(exc: BaseException) -> VidpipeError | None:
    """Our error for what a user can act on (ours, a database outage, a full disk), else None (a bug)."""
    from vidpipe.db.database import database_unavailable  # SQLAlchemy only when something failed

    if isinstance(exc, VidpipeError):
        return exc
    if isinstance(exc, OSError):
        return storage_error(exc, "could not read or store the file")
    return database_unavailable(exc)


def one_line(exc: VidpipeError) -> str:
    """A failure as one readable line: no server paths, no traceback."""
    return public_message(" ".join(exc.message.split()))
