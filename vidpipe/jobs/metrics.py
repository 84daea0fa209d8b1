"""Pipeline metrics: Prometheus everywhere (`/metrics`), CloudWatch Embedded Metric Format lines on AWS, and the
BacklogPerTask point the worker service scales on.

- Counters and the duration histogram live in the process that runs the jobs (a worker, or `vidpipe up`);
  a worker can serve its own `/metrics` on `worker_metrics_port`.
- Queue depth and job counts per stage are read from the database when `/metrics` is scraped, so the API's
  endpoint shows the whole queue whichever process did the work.
- EMF: one JSON line on stdout per finished stage and per stage's queue depth every minute; CloudWatch Logs
  turns them into metrics (namespace `Vidpipe`), no PutMetricData call and no agent needed.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from vidpipe.settings import Settings

log = logging.getLogger(__name__)

NAMESPACE = "Vidpipe"
REPORT_SECONDS = 60.0

JOB_OUTCOMES = Counter("vidpipe_jobs_finished", "Job attempts that ended, by stage and outcome "
                       "(succeeded, failed, dead, retrying, cancelled, released, lost, crashed)", ["stage", "outcome"])
STAGE_SECONDS = Histogram("vidpipe_stage_duration_seconds", "Wall time of a stage attempt, by stage and outcome",
                          ["stage", "outcome"],
                          buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, float("inf")))


# --- from the database --------------------------------------------------------------------------------------
def job_counts(rt: Any) -> dict[tuple[str, str], int]:
    """(stage, status) -> jobs, for the live and dead states (the partial indexes keep this cheap)."""
    from vidpipe.db.models import Job

    with rt.db.session() as s:
        rows = s.execute(select(Job.stage, Job.status, func.count())
                         .where(Job.status.in_(("queued", "running", "dead"))).group_by(Job.stage, Job.status))
        return {(stage, status): n for stage, status, n in rows}


def queue_depth_by_stage(counts: Mapping[tuple[str, str], int]) -> dict[str, int]:
    from vidpipe.stages import registry

    depth = dict.fromkeys(registry.STAGES, 0)
    for (stage, status), n in counts.items():
        if status == "queued":
            depth[stage] = depth.get(stage, 0) + n
    return depth


class _DatabaseCollector(Collector):
    def __init__(self, rt: Any) -> None:
        self.rt = rt

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = job_counts(self.rt)
        depth = GaugeMetricFamily("vidpipe_queue_depth", "Queued jobs per stage", labels=["stage"])
        for stage, n in sorted(queue_depth_by_stage(counts).items()):
            depth.add_metric([stage], n)
        yield depth
        jobs = GaugeMetricFamily("vidpipe_jobs", "Jobs per stage in the queued, running and dead states",
                                 labels=["stage", "status"])
        for (stage, status), n in sorted(counts.items()):
            jobs.add_metric([stage, status], n)
        yield jobs


def render(rt: Any) -> bytes:
    """The Prometheus exposition of this process's metrics plus the queue as the database sees it."""
    db = CollectorRegistry(auto_describe=False)
    db.register(_DatabaseCollector(rt))
    return generate_latest(REGISTRY) + generate_latest(db)


# --- CloudWatch Embedded Metric Format ----------------------------------------------------------------------
def emf_document(dimensions: Mapping[str, str], metrics: Mapping[str, tuple[float, str]], *,
                 namespace: str = NAMESPACE, timestamp_ms: int | None = None,
                 properties: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One EMF object: `_aws` metadata, then dimension values, metric values and extra properties at top level."""
    doc: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [list(dimensions)],
                "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
            }],
        },
    }
    doc.update(properties or {})
    doc.update(dimensions)
    doc.update({name: value for name, (value, _) in metrics.items()})
    return doc


_emit_lock = threading.Lock()


def emit(doc: Mapping[str, Any]) -> None:
    """An EMF line on stdout (logs go to stderr), whole lines only."""
    line = json.dumps(doc, separators=(",", ":"), default=str) + "\n"
    with _emit_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def _environment(settings: Settings) -> str:
    return settings.cloud.metrics_environment or "default"


# --- hooks for the worker ---------------------------------------------------------------------------------------
def observe_job(rt: Any, run: Any, outcome: str) -> None:
    """Count one finished attempt (worker hook); never raises into the job loop."""
    try:
        stage, seconds = run.job.stage, time.monotonic() - run.started
        JOB_OUTCOMES.labels(stage, outcome).inc()
        STAGE_SECONDS.labels(stage, outcome).observe(seconds)
        if rt.settings.cloud.metrics_emf:
            emit(emf_document({"Environment": _environment(rt.settings), "Stage": stage, "Outcome": outcome},
                              {"StageDuration": (round(seconds, 3), "Seconds"), "JobsFinished": (1, "Count")},
                              properties={"job": run.job.id, "asset": str(run.job.asset_id)}))
    except Exception:
        log.warning("metrics.observe_failed", exc_info=True)


def report_queue(rt: Any, *, cloudwatch: Any | None = None, ecs: Any | None = None) -> dict[str, int]:
    """Queue depth per stage as EMF lines (when on) and BacklogPerTask (when metrics_environment is set)."""
    st = rt.settings
    depth = queue_depth_by_stage(job_counts(rt))
    if st.cloud.metrics_emf:
        for stage, n in sorted(depth.items()):
            emit(emf_document({"Environment": _environment(st), "Stage": stage}, {"QueueDepth": (n, "Count")}))
    if st.cloud.metrics_environment and cloudwatch is not None:
        from vidpipe.cloud.cloudwatch import publish_backlog, running_workers

        workers = running_workers(ecs, cluster=st.cloud.ecs_cluster, service=st.cloud.ecs_service) if (
            ecs is not None and st.cloud.ecs_cluster and st.cloud.ecs_service) else 1
        publish_backlog(cloudwatch, backlog=sum(depth.values()), running_workers=workers,
                        environment=st.cloud.metrics_environment)
    return depth


def start_reporters(rt: Any, stop: threading.Event) -> list[threading.Thread]:
    """The worker's periodic reporting (and its own /metrics when asked); no threads when nothing is on."""
    st = rt.settings
    if st.cloud.worker_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(st.cloud.worker_metrics_port, addr=st.api_host)
    if not (st.cloud.metrics_emf or st.cloud.metrics_environment):
        return []
    from vidpipe.cloud.clients import aws_client

    cloudwatch = aws_client(st, "cloudwatch", pool=2) if st.cloud.metrics_environment else None
    scaling = st.cloud.metrics_environment and st.cloud.ecs_cluster and st.cloud.ecs_service
    ecs = aws_client(st, "ecs", pool=2) if scaling else None

    def loop() -> None:
        while True:
            try:
                report_queue(rt, cloudwatch=cloudwatch, ecs=ecs)
            except Exception as exc:  # CloudWatch or the database hiccuped: try again next minute
                log.warning("metrics.report_failed", extra={"error": str(exc)})
            if stop.wait(REPORT_SECONDS):
                return

    thread = threading.Thread(target=loop, name="vidpipe-metrics", daemon=True)
    thread.start()
    return [thread]
