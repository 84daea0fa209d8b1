"""The pipeline graph: which stages exist and what each waits for. Stage code is imported lazily."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from vidpipe.contract import StageInput, StageResult
from vidpipe.errors import InputError


@dataclass(frozen=True)
class StageSpec:
    name: str
    module: str
    after: tuple[str, ...] = ()
    priority: int = 0  # added to the asset's priority; cheap stages first so users see metadata early

    def load(self) -> Callable[[StageInput], StageResult]:
        return importlib.import_module(self.module).run


STAGES: dict[str, StageSpec] = {
    spec.name: spec
    for spec in (
        StageSpec("probe", "vidpipe.stages.probe", priority=20),
        StageSpec("thumbnails", "vidpipe.stages.thumbnails", after=("probe",), priority=10),
        StageSpec("transcode", "vidpipe.stages.transcode", after=("probe",)),
        StageSpec("analyze", "vidpipe.stages.analyze", after=("probe",)),
    )
}
FIRST_STAGES = tuple(name for name, spec in STAGES.items() if not spec.after)


def get_stage(name: str) -> StageSpec:
    try:
        return STAGES[name]
    except KeyError:
        raise InputError(f"unknown stage {name!r}; stages are {list(STAGES)}", code="unknown_stage") from None


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
