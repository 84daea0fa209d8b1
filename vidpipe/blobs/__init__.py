"""Media stores, chosen by configuration (VIDPIPE_MEDIA_STORE)."""

from __future__ import annotations

from vidpipe.blobs.base import BlobStore, StoredBlob, check_key
from vidpipe.settings import Settings

__all__ = ["BlobStore", "StoredBlob", "check_key", "blob_store_from_settings"]


def blob_store_from_settings(settings: Settings) -> BlobStore:
    if settings.media_store == "local":
        from vidpipe.blobs.local import LocalBlobStore

        return LocalBlobStore(settings.media_root)
    if settings.media_store == "s3":
        from vidpipe.blobs.s3 import S3BlobStore  # boto3 is imported only by deployments that use it

        return S3BlobStore.from_settings(settings)
    from vidpipe.errors import VidpipeError

    raise VidpipeError(f"media store {settings.media_store!r} is not available in this build", code="config")
