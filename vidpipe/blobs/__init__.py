"""Media stores, chosen by configuration (VIDPIPE_MEDIA_STORE)."""

from __future__ import annotations

from vidpipe.blobs.base import BlobStore, StoredBlob, check_key
from vidpipe.settings import Settings

__all__ = ["BlobStore", "StoredBlob", "check_key", "blob_store_from_settings"]


def blob_store_from_settings(settings: Settings) -> BlobStore:
    if settings.media_store == "local":
        from vidpipe.blobs.local import LocalBlobStore

        return LocalBlobStore(settings.media_root)
    from vidpipe.errors import VidpipeError

    raise VidpipeError(f"media store {settings.media_store!r} is not available in this build", code="config")
