"""Media stores, chosen by configuration (VIDPIPE_MEDIA_STORE)."""

from __future__ import annotations

from vidpipe.mediastore.base import MediaStore, StoredBlob, check_key
from vidpipe.settings import Settings

__all__ = ["MediaStore", "StoredBlob", "check_key", "media_store_from_settings"]


def media_store_from_settings(settings: Settings) -> MediaStore:
    if settings.media_store == "local":
        from vidpipe.mediastore.local import LocalMediaStore

        return LocalMediaStore(settings.media_root)
    if settings.media_store == "s3":
        from vidpipe.mediastore.s3 import S3MediaStore  # boto3 is imported only by deployments that use it

        return S3MediaStore.from_settings(settings)
    from vidpipe.errors import VidpipeError

    raise VidpipeError(f"media store {settings.media_store!r} is not available in this build", code="config")
