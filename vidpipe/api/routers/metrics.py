"""/metrics: Prometheus exposition (no API key, like /healthz: scrapers sit inside the network)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from vidpipe.api.deps import RuntimeDep
from vidpipe.jobs import metrics

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def get_metrics(rt: RuntimeDep) -> Response:
    """Job outcomes and stage durations of this process, and the queue per stage as the database sees it."""
    return Response(metrics.render(rt), media_type=CONTENT_TYPE_LATEST)
