"""Monitoring: alarms to an encrypted SNS topic, and one dashboard for the platform."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

FIVE_MINUTES = Duration.minutes(5)
CONSUMER_LAG_MS = 10 * 60 * 1000  # the Kinesis consumer this far behind the stream's newest record


@dataclass(frozen=True, kw_only=True)
class Watched:
    """Names of what to watch (all known at synth time except the tokens CDK resolves)."""

    dlq_name: str
    stream_name: str
    cluster_name: str
    service_names: tuple[str, ...]
    db_instance_id: str
    redis_member_ids: tuple[str, ...]
    api_name: str
    api_stage: str
    backlog_metric: cw.IMetric
    ingest_service_name: str


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, suffix: str, key: kms.IKey, watched: Watched) -> None:
        super().__init__(scope, construct_id)
        self.suffix = suffix
        self.topic = sns.Topic(
            self, "Alarms", topic_name=f"alarms-{suffix}", display_name=f"vidpipe {suffix} alarms", master_key=key,
            enforce_ssl=True,
        )  # fmt: skip
        self.alarms: list[cw.Alarm] = []
        w = watched

        def metric(namespace: str, name: str, dims: dict[str, str], statistic: str) -> cw.Metric:
            return cw.Metric(
                namespace=namespace, metric_name=name, dimensions_map=dims, statistic=statistic, period=FIVE_MINUTES
            )

        dlq = metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": w.dlq_name}, "Maximum")
        self._alarm("DlqNotEmpty", f"dlq-not-empty-{suffix}", dlq, 0, "Jobs exhausted their retries", periods=1)
        throttled = metric("AWS/Kinesis", "WriteProvisionedThroughputExceeded", {"StreamName": w.stream_name}, "Sum")
        self._alarm("KinesisThrottled", f"kinesis-write-throttled-{suffix}", throttled, 0, "Ingest writes throttled")

        # The one Kinesis consumer: not running at all, or running but falling behind the stream.
        ingest_dims = {"ClusterName": w.cluster_name, "ServiceName": w.ingest_service_name}
        consumer_running = metric("ECS/ContainerInsights", "RunningTaskCount", ingest_dims, "Average")
        self._alarm(
            "IngestConsumerDown", f"ingest-consumer-not-running-{suffix}", consumer_running, 1,
            f"{w.ingest_service_name}: no Kinesis consumer running for 15 minutes (stream records are not ingested "
            "and expire after the stream's retention)", periods=3, comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
        )  # fmt: skip
        lag = metric("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", {"StreamName": w.stream_name}, "Maximum")
        self._alarm(
            "IngestConsumerBehind", f"ingest-consumer-behind-{suffix}", lag, CONSUMER_LAG_MS,
            "The Kinesis consumer has been more than 10 minutes behind the stream for 10 minutes", periods=2,
        )  # fmt: skip

        tasks = []
        for service in w.service_names:
            dims = {"ClusterName": w.cluster_name, "ServiceName": service}
            ci = "ECS/ContainerInsights"
            n = len(tasks) + 1
            below = cw.MathExpression(
                expression=f"desired{n} - running{n}",
                using_metrics={
                    f"desired{n}": metric(ci, "DesiredTaskCount", dims, "Average"),
                    f"running{n}": metric(ci, "RunningTaskCount", dims, "Average"),
                },
                label=f"{service} tasks missing",
                period=FIVE_MINUTES,
            )
            tasks.append(below)
            self._alarm(
                f"TasksBelowDesired{n}", f"ecs-below-desired-{service}", below, 0,
                f"{service}: fewer running tasks than desired for 15 minutes (tasks failing to start)", periods=3,
            )  # fmt: skip

        db = {"DBInstanceIdentifier": w.db_instance_id}
        self._alarm("RdsCpu", f"rds-cpu-high-{suffix}", metric("AWS/RDS", "CPUUtilization", db, "Average"), 80,
                    "PostgreSQL CPU above 80%", periods=3)  # fmt: skip
        free = metric("AWS/RDS", "FreeStorageSpace", db, "Minimum")
        self._alarm("RdsStorage", f"rds-free-storage-low-{suffix}", free, 10 * 1024**3, "PostgreSQL < 10 GiB free",
                    comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD)  # fmt: skip

        for member in w.redis_member_ids:
            node = {"CacheClusterId": member}
            cpu = metric("AWS/ElastiCache", "EngineCPUUtilization", node, "Average")
            self._alarm(f"RedisCpu{member[-3:]}", f"redis-cpu-high-{member}", cpu, 80, f"{member} engine CPU > 80%",
                        periods=3)  # fmt: skip
            evictions = metric("AWS/ElastiCache", "Evictions", node, "Sum")
            self._alarm(f"RedisEvictions{member[-3:]}", f"redis-evictions-{member}", evictions, 0,
                        f"{member} is evicting keys: memory too small")  # fmt: skip

        api = {"ApiName": w.api_name, "Stage": w.api_stage}
        errors = metric("AWS/ApiGateway", "5XXError", api, "Sum")
        self._alarm("Api5xx", f"api-5xx-{suffix}", errors, 5, "API answered 5xx more than 5 times in 5 minutes")

        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"vidpipe-{suffix}")
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Worker backlog per task", left=[w.backlog_metric], width=12),
            cw.GraphWidget(title="ECS tasks missing (desired - running)", left=tasks, width=12),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Kinesis consumer tasks running", left=[consumer_running], width=12),
            cw.GraphWidget(title="Kinesis consumer lag (iterator age, ms)", left=[lag], width=12),
        )
        self.dashboard.add_widgets(
            *[cw.AlarmWidget(title=alarm.alarm_name, alarm=alarm, width=6) for alarm in self.alarms]
        )

    def _alarm(
        self,
        construct_id: str,
        name: str,
        metric: cw.IMetric,
        threshold: float,
        description: str,
        *,
        periods: int = 1,
        comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
    ) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            construct_id,
            alarm_name=name,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=comparison,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm
