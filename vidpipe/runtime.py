"""The process-wide objects an entry point builds once from Settings and hands down."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from vidpipe.cache import Caching, invalidation
from vidpipe.db import migrate
from vidpipe.db.database import Database
from vidpipe.errors import VidpipeError
from vidpipe.mediastore import MediaStore, media_store_from_settings
from vidpipe.settings import Settings

if TYPE_CHECKING:
    from vidpipe.playback.signing import PlaybackSigner

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    media_store: MediaStore
    dead_letter_sinks: list[Any] = field(default_factory=list)  # vidpipe.cloud.deadletter_queue (SQS when configured)
    # None (the default) is replaced in __post_init__, so every reader sees a Caching
    cache: Caching = None  # type: ignore[assignment]  # see above: the dataclass default is a placeholder

    def __post_init__(self) -> None:
        if self.cache is None:
            self.cache = Caching.from_settings(self.settings)
        # Writes marked with store.assets.touch_asset invalidate the cache once their transaction commits.
        invalidation.install(self.db.sessions, self.cache.invalidate_assets)

    @classmethod
    def from_settings(cls, settings: Settings, *, migrate_embedded: bool = True, pool_size: int = 10) -> Runtime:
        """Connect to the database and media store; the embedded database is migrated on the fly."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database.from_settings(settings, pool_size=pool_size)
        if settings.database_url is None and migrate_embedded:
            migrate.upgrade(db.url)
        elif not migrate.is_up_to_date(db.url):
            raise VidpipeError("the database schema is not up to date: run `vidpipe db upgrade`",
                               code="schema_outdated")
        from vidpipe.cloud.deadletter_queue import sinks_from_settings

        return cls(settings, db, media_store_from_settings(settings), sinks_from_settings(settings))

    @cached_property
    def playback(self) -> PlaybackSigner:
        """Signs the playback URLs the API hands out (vidpipe.playback.signing)."""
        from vidpipe.playback.signing import signer_from_settings

        return signer_from_settings(self.settings)

    def close(self) -> None:
        self.db.dispose()
        self.cache.close()
