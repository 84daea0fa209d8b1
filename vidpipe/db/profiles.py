"""Processing profiles stored in the database (made in the console or over the API), beside the built-ins in
code (vidpipe.profiles). Built-in names cannot be stored, so a name always means one thing."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from vidpipe.db.database import affected_rows
from vidpipe.db.models.web import ProcessingProfile
from vidpipe.errors import ConflictError, InputError, NotFoundError
from vidpipe.profiles import PROFILES, Profile, Rung

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
NO_NUL = "^[^\\u0000]*$"  # PostgreSQL text (and jsonb) cannot hold NUL
_NAME = re.compile(NAME_PATTERN)
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")


class RungDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    height: Annotated[int, Field(ge=144, le=4320, description="short side in pixels, even",
                                 json_schema_extra={"multipleOf": 2})]
    video_kbps: Annotated[int, Field(ge=100, le=100_000)]
    audio_kbps: Annotated[int, Field(ge=32, le=512)] = 128

    @field_validator("height")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("height must be an even number of pixels")
        return value


class ProfileDefinition(BaseModel):
    """What PUT /v1/profiles/{name} accepts and what the `definition` column holds."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="optional; must equal the name in the URL",
                             pattern=NAME_PATTERN)
    ladder: Annotated[list[RungDefinition], Field(min_length=1, max_length=10)]
    segment_seconds: Annotated[float, Field(ge=1, le=10)] = 4.0
    sprite_interval_seconds: Annotated[float, Field(ge=1, le=60)] = 10.0
    x264_preset: str = Field(default="veryfast", json_schema_extra={"enum": list(X264_PRESETS)})
    ladder_mode: Literal["per_title", "fixed"] = Field(
        default="fixed", description="per_title: each rung at the quality that reaches target_vmaf, capped at the "
                                     "ladder's bitrates; fixed: the ladder's bitrates as they are")
    target_vmaf: Annotated[float, Field(ge=60, le=99, description="top-rung VMAF per-title encoding aims at")] = 93.0
    loudness_target_lufs: Annotated[float | None, Field(
        ge=-36, le=-8, description="audio renditions brought to this integrated loudness (BS.1770), e.g. -23 "
                                   "(EBU R128) or -16 (streaming); absent: the audio's own level")] = None
    analyzers: list[str] | None = None
    zero_shot_labels: Annotated[list[Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]] | None,
                                Field(max_length=100)] = None
    # Long videos (docs/long-videos.md): absent takes the configuration's (VIDPIPE_CHUNK_THRESHOLD_SECONDS, ...).
    chunking: Literal["auto", "never"] = Field(
        default="auto", description="auto: a video at least the threshold long is transcoded in chunks; never: "
                                    "every video is one transcode job whatever its length")
    chunk_threshold_seconds: Annotated[float | None, Field(
        ge=10, le=6 * 3600, description="a video at least this long is transcoded as chunk jobs any worker can "
                                        "claim, then joined; absent: the configured threshold")] = None
    chunk_seconds: Annotated[float | None, Field(
        ge=1, le=1800, description="about this much video per chunk job, at least one segment; absent: the "
                                   "configured chunk length")] = None
    builtin: bool | None = Field(default=None, strict=True, description="ignored (read-only)")

    @field_validator("chunk_threshold_seconds", "chunk_seconds")
    @classmethod
    def _not_when_never(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("chunking") == "never":
            raise ValueError("a profile that never chunks takes no chunk settings (leave it empty, or chunking auto)")
        return value

    @field_validator("chunk_seconds")
    @classmethod
    def _whole_segments(cls, value: float | None, info: ValidationInfo) -> float | None:
        segment = info.data.get("segment_seconds")  # absent when it failed its own validation
        if value is not None and segment is not None and value < segment:
            raise ValueError(f"a chunk must hold at least one segment ({segment:g} s)")
        return value

    @field_validator("ladder")
    @classmethod
    def _unique_heights(cls, ladder: list[RungDefinition]) -> list[RungDefinition]:
        heights = [r.height for r in ladder]
        if len(set(heights)) != len(heights):
            raise ValueError("each rung needs its own height (duplicates: "
                             f"{sorted({h for h in heights if heights.count(h) > 1})})")
        return sorted(ladder, key=lambda r: -r.height)

    @field_validator("x264_preset")
    @classmethod
    def _preset(cls, value: str) -> str:
        if value not in X264_PRESETS:
            raise ValueError(f"x264_preset must be one of {', '.join(X264_PRESETS)}")
        return value

    @field_validator("analyzers")
    @classmethod
    def _analyzers(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        from vidpipe.analysis.registry import analyzer_names

        known = analyzer_names()
        unknown = [n for n in value if n not in known]
        if unknown:
            raise ValueError(f"unknown analyzers {unknown}; choose from {', '.join(known)}")
        return list(dict.fromkeys(value))

    @field_validator("zero_shot_labels")
    @classmethod
    def _labels(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        labels = list(dict.fromkeys(v.strip() for v in value if v.strip()))
        return labels or None


class ProfilePublic(BaseModel):
    name: str
    ladder: list[RungDefinition]
    segment_seconds: float
    sprite_interval_seconds: float
    x264_preset: str
    ladder_mode: str
    target_vmaf: float
    loudness_target_lufs: float | None = None
    analyzers: list[str] | None
    zero_shot_labels: list[str] | None
    chunking: str = "auto"
    chunk_threshold_seconds: float | None = None  # None: the configured one
    chunk_seconds: float | None = None
    builtin: bool


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InputError(f"profile name {name!r} must match {NAME_PATTERN} (lower-case letters, digits, '_' and "
                         "'-', at most 32 characters)", code="invalid_profile_name")
    return name


def to_profile(name: str, definition: dict[str, Any]) -> Profile:
    d = ProfileDefinition.model_validate(definition)
    return Profile(name, tuple(Rung(r.height, r.video_kbps, r.audio_kbps) for r in d.ladder),
                   segment_seconds=d.segment_seconds, sprite_interval_seconds=d.sprite_interval_seconds,
                   x264_preset=d.x264_preset, analyzers=tuple(d.analyzers) if d.analyzers is not None else None,
                   zero_shot_labels=tuple(d.zero_shot_labels) if d.zero_shot_labels is not None else None,
                   ladder_mode=d.ladder_mode, target_vmaf=d.target_vmaf, loudness_target_lufs=d.loudness_target_lufs,
                   chunking=d.chunking, chunk_threshold_seconds=d.chunk_threshold_seconds,
                   chunk_seconds=d.chunk_seconds)


def to_public(profile: Profile, *, builtin: bool) -> ProfilePublic:
    return ProfilePublic(
        name=profile.name,
        ladder=[RungDefinition(height=r.height, video_kbps=r.video_kbps, audio_kbps=r.audio_kbps)
                for r in profile.ladder],
        segment_seconds=profile.segment_seconds, sprite_interval_seconds=profile.sprite_interval_seconds,
        x264_preset=profile.x264_preset, ladder_mode=profile.ladder_mode, target_vmaf=profile.target_vmaf,
        loudness_target_lufs=profile.loudness_target_lufs,
        analyzers=list(profile.analyzers) if profile.analyzers is not None else None,
        zero_shot_labels=list(profile.zero_shot_labels) if profile.zero_shot_labels is not None else None,
        chunking=profile.chunking, chunk_threshold_seconds=profile.chunk_threshold_seconds,
        chunk_seconds=profile.chunk_seconds, builtin=builtin)


def resolve_profile(session: Session, name: str) -> Profile:
    """The profile called `name`: a built-in, else a stored one, else InputError(unknown_profile)."""
    if name in PROFILES:
        return PROFILES[name]
    row = session.get(ProcessingProfile, name)
    if row is None:
        stored = session.scalars(select(ProcessingProfile.name)).all()
        raise InputError(f"unknown processing profile {name!r}; choose one of {sorted([*PROFILES, *stored])}",
                         code="unknown_profile")
    return to_profile(name, row.definition)


def list_profiles(session: Session) -> list[ProfilePublic]:
    """Built-ins first (in code order), then stored ones by name."""
    rows = session.scalars(select(ProcessingProfile).order_by(ProcessingProfile.name)).all()
    return ([to_public(p, builtin=True) for p in PROFILES.values()]
            + [to_public(to_profile(r.name, r.definition), builtin=False) for r in rows])


def get_public(session: Session, name: str) -> ProfilePublic:
    if name in PROFILES:
        return to_public(PROFILES[name], builtin=True)
    row = session.get(ProcessingProfile, name)
    if row is None:
        raise NotFoundError(f"no processing profile named {name!r}")
    return to_public(to_profile(name, row.definition), builtin=False)


def put_profile(session: Session, name: str, definition: ProfileDefinition) -> bool:
    """Create or replace a stored profile; True when it was created. Built-in names are refused (409)."""
    check_name(name)
    if name in PROFILES:
        raise ConflictError(f"{name!r} is a built-in profile and cannot be changed; store it under another name",
                            code="builtin_profile")
    if definition.name is not None and definition.name != name:
        raise InputError(f"the body names profile {definition.name!r} but the URL {name!r}", code="name_mismatch")
    body = definition.model_dump(exclude={"name", "builtin"})
    stmt = insert(ProcessingProfile).values(name=name, definition=body)
    stmt = stmt.on_conflict_do_update(index_elements=[ProcessingProfile.name],
                                      set_={"definition": body, "updated_at": func.now()})
    created = session.execute(stmt.returning(ProcessingProfile.created_at == ProcessingProfile.updated_at)).scalar()
    return bool(created)


def delete_profile(session: Session, name: str) -> None:
    if name in PROFILES:
        raise ConflictError(f"{name!r} is a built-in profile and cannot be deleted", code="builtin_profile")
    if affected_rows(session.execute(delete(ProcessingProfile).where(ProcessingProfile.name == name))) == 0:
        raise NotFoundError(f"no processing profile named {name!r}")
