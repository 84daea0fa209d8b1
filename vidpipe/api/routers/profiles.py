"""/v1/profiles: the built-in processing profiles and the stored ones (create, replace, delete)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from vidpipe.api.deps import AdminCallerDep, CallerDep, SessionDep
from vidpipe.api.schemas import ErrorBody
from vidpipe.db import events
from vidpipe.db import profiles as store

router = APIRouter(prefix="/profiles", tags=["profiles"], responses={401: {"model": ErrorBody}})


class ProfileList(BaseModel):
    items: list[store.ProfilePublic]


@router.get("", response_model=ProfileList)
def list_profiles(session: SessionDep, caller: CallerDep) -> ProfileList:
    """Built-ins first (`builtin: true`, read-only), then stored profiles by name."""
    return ProfileList(items=store.list_profiles(session))


# Documented, not enforced by FastAPI: the route answers its own 422 invalid_profile_name.
ProfileName = Annotated[str, Path(json_schema_extra={"pattern": store.NAME_PATTERN})]
_DEFINITION = store.ProfileDefinition.model_json_schema(ref_template="#/components/schemas/{model}")
_DEFINITION.pop("$defs", None)  # RungDefinition is in the components already (ProfilePublic uses it)


@router.get("/{name}", response_model=store.ProfilePublic, responses={404: {"model": ErrorBody}})
def get_profile(name: ProfileName, session: SessionDep, caller: CallerDep) -> store.ProfilePublic:
    return store.get_public(session, name)


def _invalid(exc: ValidationError) -> JSONResponse:
    """422 with one readable message per field (`fields`, keyed like `ladder.0.height`) for forms."""
    fields: dict[str, str] = {}
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        fields.setdefault(where, str(err.get("msg", "invalid")).removeprefix("Value error, "))
    message = "; ".join(f"{k}: {v}" for k, v in list(fields.items())[:10])
    return JSONResponse({"error": {"code": "validation_error", "message": message, "fields": fields}},
                        status_code=422)


@router.put("/{name}", response_model=store.ProfilePublic,
            responses={201: {"model": store.ProfilePublic}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
            openapi_extra={"requestBody": {"required": True,
                                           "content": {"application/json": {"schema": _DEFINITION}}}})
def put_profile(name: ProfileName, session: SessionDep, caller: AdminCallerDep,
                body: Annotated[dict[str, Any], Body(openapi_examples={"small": {"value": {
                    "ladder": [{"height": 480, "video_kbps": 1200, "audio_kbps": 96}], "segment_seconds": 4,
                    "sprite_interval_seconds": 5, "x264_preset": "veryfast", "analyzers": None,
                    "zero_shot_labels": ["sports", "news"]}}})],
                response: Response) -> store.ProfilePublic | JSONResponse:
    """Create (201) or replace (200) a stored profile. Built-in names answer 409. The next ingest uses it."""
    store.check_name(name)
    try:
        definition = store.ProfileDefinition.model_validate(body)
    except ValidationError as exc:
        return _invalid(exc)
    created = store.put_profile(session, name, definition)
    events.record(session, "profile.created" if created else "profile.updated", actor=caller, name=name,
                  definition=definition.model_dump(exclude={"name", "builtin"}))
    session.commit()
    if created:
        response.status_code = status.HTTP_201_CREATED
    return store.get_public(session, name)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}})
def delete_profile(name: ProfileName, session: SessionDep, caller: AdminCallerDep) -> Response:
    """Assets made with it keep its name; re-processing them then fails with `unknown_profile`."""
    store.delete_profile(session, name)
    events.record(session, "profile.deleted", actor=caller, name=name)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
