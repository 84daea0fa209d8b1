"""The pipeline graph: which stages exist and what each waits for. Stage code is imported lazily."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vidpipe.contract import StageInput, StageResult
from vidpipe.errors import InputError


@dataclass(frozen=True)
class StageSpec:
    name: str
    module: str
    after: tuple[str, ...] = ()
    priority: int = 0  # added to the asset's priority; cheap stages first so users see metadata early
    needs_source: bool = True  # False: the runner does not copy the original to the worker (a join of parts)
    # "module:function" called in the transaction that records the job's success, with (session, runtime, job,
    # result, actor): for stages whose success queues more work of their own (the chunks of a long video). It may
    # return store keys it stopped referencing: the runner deletes those files after the commit.
    on_success: str | None = None
    # "module:function" like on_success, run when the stage publishes outputs before it ends (StageInput.publish)
    on_partial: str | None = None
    # False: its success replaces only the files it writes again, not all an earlier run of it wrote (a part of a
    # chunked transcode: the run before plays on until the new run's join, whose hook clears it)
    replaces_outputs: bool = True
    # "module:function" called with (session, job) under the asset's row lock just before the job's outputs are
    # stored: False stores and records none of them (a join of a run that a reprocess superseded while it ran: its
    # master would replace the new run's)
    publishes_if: str | None = None

    def load(self) -> Callable[[StageInput], StageResult]:
        return importlib.import_module(self.module).run

    def success_hook(self) -> Callable[..., list[str] | None] | None:
        return _resolve(self.on_success)

    def partial_hook(self) -> Callable[..., list[str] | None] | None:
        return _resolve(self.on_partial)

    def publish_guard(self) -> Callable[..., bool] | None:
        return _resolve(self.publishes_if)


def _resolve(target: str | None) -> Callable[..., Any] | None:
    if target is None:
        return None
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


STAGES: dict[str, StageSpec] = {
    spec.name: spec
    for spec in (
        StageSpec("probe", "vidpipe.stages.probe", priority=20),
        StageSpec("thumbnails", "vidpipe.stages.thumbnails", after=("probe",), priority=10),
        StageSpec("transcode", "vidpipe.stages.transcode", after=("probe",),
                  on_success="vidpipe.jobs.chunked:after_transcode"),
        StageSpec("analyze", "vidpipe.stages.analyze", after=("probe",)),
    )
}
FIRST_STAGES = tuple(name for name, spec in STAGES.items() if not spec.after)
# Jobs that only ever come from another stage's success hook: never queued at ingest, never reprocessed by name,
# not part of "every stage succeeded". The parts of a chunked transcode (vidpipe.stages.chunk_plan).
PART_STAGES: dict[str, StageSpec] = {
    spec.name: spec
    for spec in (
        StageSpec("transcode_chunk", "vidpipe.stages.transcode_chunks",
                  on_success="vidpipe.jobs.chunked:after_part", replaces_outputs=False),
        StageSpec("transcode_audio", "vidpipe.stages.transcode_audio",
                  on_success="vidpipe.jobs.chunked:after_part",
                  on_partial="vidpipe.jobs.chunked:after_part", replaces_outputs=False),
        StageSpec("transcode_join", "vidpipe.stages.transcode_join", needs_source=False,
                  on_success="vidpipe.jobs.chunked:after_join", publishes_if="vidpipe.jobs.chunked:current_run"),
        StageSpec("transcode_decide", "vidpipe.stages.transcode_decide",
                  on_success="vidpipe.jobs.chunked:after_decide"),
    )
}


def get_stage(name: str) -> StageSpec:
    try:
        return STAGES[name]
    except KeyError:
        raise InputError(f"unknown stage {name!r}; stages are {list(STAGES)}", code="unknown_stage") from None


def runnable(name: str) -> StageSpec:
    """What a worker runs for a claimed job: a pipeline stage or a part stage."""
    return PART_STAGES[name] if name in PART_STAGES else get_stage(name)


def artifact_stage(stage: str, payload: dict) -> str:
    """The name a job's outputs are recorded under: a part of a stage records its own (a chunk's success must not
    replace what its sibling chunks published)."""
    part = payload.get("part")
    return stage if part is None else f"{stage}.{part}"


def next_stages(finished: str, succeeded: set[str]) -> list[str]:
    """Stages waiting on `finished` whose every prerequisite has now succeeded."""
    return [s.name for s in STAGES.values() if finished in s.after and set(s.after) <= succeeded]


def downstream(stage: str) -> list[str]:
    """The stage and everything that depends on it, in pipeline order."""
    wanted = {stage}
    for spec in STAGES.values():  # STAGES is in topological order
        if wanted & set(spec.after):
            wanted.add(spec.name)
    return [name for name in STAGES if name in wanted]
