"""Worker autoscaling, down to zero tasks when the queue is empty and back up when a job is queued.

Target tracking on BacklogPerTask (queued jobs per running worker, published by the API and the workers,
vidpipe/jobs/metrics.py) sizes the service between one and worker_max and scales it in to zero when the
backlog is gone. Target tracking cannot start the first task (it scales in proportion to the current
count, which is zero), so a step policy does that: an alarm on "jobs queued and no worker running".
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ecs as ecs
from constructs import Construct

BACKLOG_NAMESPACE = "Vidpipe"
BACKLOG_METRIC = "BacklogPerTask"
ONE_MINUTE = Duration.minutes(1)


class WorkerScaling(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, suffix: str, service: ecs.FargateService,
                 cluster_name: str, min_capacity: int, max_capacity: int, backlog_per_task: int) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        self.task_count = service.auto_scale_task_count(min_capacity=min_capacity, max_capacity=max_capacity)
        # Two policies; the service scales out when either asks and in only when both allow it.
        # Tasks in the middle of a long job set ECS task scale-in protection so a scale-in never kills a
        # transcode; the queue's lease would retry it, but the work would be lost.
        self.task_count.scale_on_cpu_utilization(
            "Cpu", target_utilization_percent=70, scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=ONE_MINUTE,
        )  # fmt: skip
        self.backlog_metric = cloudwatch.Metric(
            namespace=BACKLOG_NAMESPACE, metric_name=BACKLOG_METRIC, dimensions_map={"Environment": suffix},
            statistic="Average", period=ONE_MINUTE,
        )  # fmt: skip
        self.task_count.scale_to_track_custom_metric(
            "Backlog", metric=self.backlog_metric, target_value=backlog_per_task,
            scale_in_cooldown=Duration.minutes(5), scale_out_cooldown=ONE_MINUTE,
        )  # fmt: skip

        # With no worker running BacklogPerTask is the whole backlog (vidpipe.cloud.cloudwatch.backlog_per_task).
        running = cloudwatch.Metric(
            namespace="ECS/ContainerInsights", metric_name="RunningTaskCount",
            dimensions_map={"ClusterName": cluster_name, "ServiceName": f"vidpipe-worker-{suffix}"},
            statistic="Maximum", period=ONE_MINUTE,
        )  # fmt: skip
        backlog_max = self.backlog_metric.with_(statistic="Maximum")
        self.idle_with_work = cloudwatch.MathExpression(
            expression="IF(backlog > 0 AND FILL(running, 0) < 1, 1, 0)",
            using_metrics={"backlog": backlog_max, "running": running},
            label="jobs queued, no worker running",
            period=ONE_MINUTE,
        )
        self.from_zero_alarm = cloudwatch.Alarm(
            self,
            "FromZeroAlarm",
            alarm_name=f"worker-scale-from-zero-{suffix}",
            alarm_description="Jobs are queued and no worker runs: start one (target tracking takes over from there)",
            metric=self.idle_with_work,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        target = self.task_count.node.find_child("Target")
        assert isinstance(target, appscaling.ScalableTarget)
        self.from_zero = appscaling.StepScalingAction(
            self, "FromZero", scaling_target=target, policy_name=f"worker-from-zero-{suffix}",
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY, cooldown=ONE_MINUTE,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
        )  # fmt: skip
        self.from_zero.add_adjustment(adjustment=1, lower_bound=0)
        self.from_zero_alarm.add_alarm_action(cw_actions.ApplicationScalingAction(self.from_zero))
