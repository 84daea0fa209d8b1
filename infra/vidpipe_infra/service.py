"""Compute: the ECS cluster, the image, and the API, worker and ingest Fargate services (one image, three commands)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from .compliance import acknowledge
from .config import API_PORT, APP_GID, APP_UID, log_retention
from .loadbalancer import api_load_balancer
from .scaling import BACKLOG_METRIC, BACKLOG_NAMESPACE, WorkerScaling

SCRATCH_PATH = "/mnt/scratch"
__all__ = ["BACKLOG_METRIC", "BACKLOG_NAMESPACE", "Compute"]
API_COMMAND = ["serve"]
WORKER_COMMAND = ["worker"]
INGEST_COMMAND = ["consume-kinesis"]
MIGRATE_COMMAND = ["db", "upgrade"]
HEALTH_COMMAND = [
    "CMD",
    "python",
    "-c",
    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{API_PORT}/healthz', timeout=3)",
]


class Compute(Construct):
    """Fargate tasks run as the image's non-root user with a read-only root file system.

    Writable places: /tmp (task ephemeral storage, holds VIDPIPE_DATA_DIR) and EFS at /mnt/scratch.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        suffix: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        key: kms.IKey,
        file_system: efs.IFileSystem,
        access_point: efs.IAccessPoint,
        image: ecs.ContainerImage,
        environment: dict[str, str],
        worker_environment: dict[str, str],
        api_cpu: int,
        api_memory_mib: int,
        api_desired: int,
        worker_cpu: int,
        worker_memory_mib: int,
        worker_min: int,
        worker_max: int,
        worker_backlog_per_task: int,
        ingest_cpu: int,
        ingest_memory_mib: int,
        log_retention_days: int,
        start_tasks: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self.suffix = suffix
        self._log_groups: dict[str, logs.LogGroup] = {}
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=f"video-processing-{suffix}",
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        # Container Insights would create this group itself, without retention and outliving the stack.
        logs.LogGroup(
            self,
            "InsightsLogs",
            log_group_name=f"/aws/ecs/containerinsights/video-processing-{suffix}/performance",
            retention=log_retention(log_retention_days),
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # From the stack's ECR repository (registry.py), at the tag given as `-c imageTag=...`.
        self.image = image
        # One execution role (pull image, write logs) shared by every service; task roles are separate.
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"vidpipe {suffix}: ECS agent pulls the image and writes container logs",
        )
        self.api_role = self._task_role("ApiTaskRole", "API tasks")
        self.worker_role = self._task_role("WorkerTaskRole", "worker tasks")
        self.ingest_role = self._task_role("IngestTaskRole", "Kinesis consumer task")
        # The consumer streams S3 objects into the media store and never touches scratch: no EFS for it.
        for role in (self.api_role, self.worker_role):
            file_system.grant(role, "elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite")

        self.api_sg = ec2.SecurityGroup(
            self,
            "ApiSg",
            vpc=vpc,
            security_group_name=f"api-{suffix}",
            description="API tasks: from the load balancer only",
            allow_all_outbound=False,
        )
        self.worker_sg = ec2.SecurityGroup(
            self,
            "WorkerSg",
            vpc=vpc,
            security_group_name=f"worker-{suffix}",
            description="Worker tasks: no inbound",
            allow_all_outbound=False,
        )
        # AWS APIs (S3, Kinesis, SQS, CloudWatch; ECR/Secrets/Logs via endpoints) are HTTPS.
        self.api_sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs")
        self.worker_sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs and URL ingest")
        self.worker_sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "URL ingest of plain-HTTP sources")
        self.ingest_sg = ec2.SecurityGroup(
            self,
            "IngestSg",
            vpc=vpc,
            security_group_name=f"ingest-{suffix}",
            description="Kinesis consumer task: no inbound",
            allow_all_outbound=False,
        )
        # Stream records may carry URLs as well as S3 keys: the consumer fetches them like URL ingest does.
        self.ingest_sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs and URL ingest")
        self.ingest_sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "URL ingest of plain-HTTP sources")

        api_task = self._task_definition(
            "Api", f"vidpipe-api-{suffix}", api_cpu, api_memory_mib, self.api_role, key, log_retention_days,
            file_system, access_point,
        )  # fmt: skip
        migrate = api_task.add_container(
            "migrate",
            image=self.image,
            command=MIGRATE_COMMAND,
            essential=False,
            environment=environment,
            readonly_root_filesystem=True,
            user=f"{APP_UID}:{APP_GID}",
            logging=ecs.LogDrivers.aws_logs(stream_prefix="migrate", log_group=self._log_groups["Api"]),
        )
        self._mount(migrate)
        api = api_task.add_container(
            "api",
            image=self.image,
            command=API_COMMAND,
            essential=True,
            environment=environment,
            readonly_root_filesystem=True,
            user=f"{APP_UID}:{APP_GID}",
            port_mappings=[ecs.PortMapping(container_port=API_PORT, protocol=ecs.Protocol.TCP)],
            health_check=ecs.HealthCheck(
                command=HEALTH_COMMAND,
                interval=Duration.seconds(30),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(60),
            ),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="api", log_group=self._log_groups["Api"]),
        )
        self._mount(api)
        # Schema first: the API starts only after `vidpipe db upgrade` exited 0 in the same task.
        api.add_container_dependencies(
            ecs.ContainerDependency(container=migrate, condition=ecs.ContainerDependencyCondition.SUCCESS)
        )

        worker_task = self._task_definition(
            "Worker", f"vidpipe-worker-{suffix}", worker_cpu, worker_memory_mib, self.worker_role, key,
            log_retention_days, file_system, access_point,
        )  # fmt: skip
        worker = worker_task.add_container(
            "worker",
            image=self.image,
            command=WORKER_COMMAND,
            essential=True,
            environment={**environment, **worker_environment},
            readonly_root_filesystem=True,
            user=f"{APP_UID}:{APP_GID}",
            # Fargate's maximum: time for a worker to hand its leased job back on SIGTERM.
            stop_timeout=Duration.seconds(120),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="worker", log_group=self._log_groups["Worker"]),
        )
        self._mount(worker)

        ingest_task = self._task_definition(
            "Ingest", f"vidpipe-ingest-{suffix}", ingest_cpu, ingest_memory_mib, self.ingest_role, key,
            log_retention_days,
        )  # fmt: skip
        ingest = ingest_task.add_container(
            "ingest",
            image=self.image,
            command=INGEST_COMMAND,
            essential=True,
            # The workers' settings minus the scratch directory: this task has no EFS mount and runs no stages.
            environment={k: v for k, v in environment.items() if k != "VIDPIPE_SCRATCH_DIR"},
            readonly_root_filesystem=True,
            user=f"{APP_UID}:{APP_GID}",
            # SIGTERM lets the record in hand finish (its asset, claim and checkpoint commit together).
            stop_timeout=Duration.seconds(120),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="ingest", log_group=self._log_groups["Ingest"]),
        )
        self._mount(ingest, scratch=False)
        self.containers = {"migrate": migrate, "api": api, "worker": worker, "ingest": ingest}

        # First deploy (`-c firstDeploy=true`): the image repository is created empty, so nothing may start yet.
        api_count = api_desired if start_tasks else 0
        self.api_service = self._service("ApiService", f"vidpipe-api-{suffix}", api_task, api_count, self.api_sg,
                                         subnets, health_check_grace_period=Duration.seconds(120))
        api_scaling = self.api_service.auto_scale_task_count(min_capacity=api_count, max_capacity=api_desired * 4)
        api_scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60)

        self.worker_service = self._service("WorkerService", f"vidpipe-worker-{suffix}", worker_task, worker_min,
                                            self.worker_sg, subnets)
        self.worker_scaling = WorkerScaling(
            self, "WorkerScaling", suffix=suffix, service=self.worker_service,
            cluster_name=f"video-processing-{suffix}", min_capacity=worker_min, max_capacity=worker_max,
            backlog_per_task=worker_backlog_per_task,
        )  # fmt: skip
        self.backlog_metric = self.worker_scaling.backlog_metric

        # Exactly one consumer: it reads every shard of the stream itself. A second one would read the same
        # shards again (the claims make that harmless but wasteful), so a deploy stops the old task before
        # starting the new one (min 0% / max 100%) and nothing autoscales it. Scaling out means splitting
        # shards between consumers, which the app does not do yet; see docs/cloud.md.
        self.ingest_service = self._service("IngestService", f"vidpipe-ingest-{suffix}", ingest_task, int(start_tasks),
                                            self.ingest_sg, subnets, min_healthy_percent=0, max_healthy_percent=100)

        self.load_balancer, self.target_group = api_load_balancer(self, suffix=suffix, vpc=vpc, subnets=subnets,
                                                                  service=self.api_service, api_sg=self.api_sg)

    def add_environment(self, name: str, value: str, *, containers: tuple[str, ...] | None = None) -> None:
        """A setting whose value comes from a unit built after this one (the API's URL, the CDN's domain)."""
        for container in containers or tuple(self.containers):
            self.containers[container].add_environment(name, value)

    # --- pieces -----------------------------------------------------------------------------------
    def _service(self, construct_id: str, name: str, task: ecs.FargateTaskDefinition, desired: int,
                 security_group: ec2.SecurityGroup, subnets: ec2.SubnetSelection, *, min_healthy_percent: int = 100,
                 max_healthy_percent: int = 200, **extra) -> ecs.FargateService:
        """A Fargate service in the private subnets, no public IP, rolled back when a deploy fails."""
        return ecs.FargateService(
            self,
            construct_id,
            service_name=name,
            cluster=self.cluster,
            task_definition=task,
            desired_count=desired,
            security_groups=[security_group],
            vpc_subnets=subnets,
            assign_public_ip=False,
            min_healthy_percent=min_healthy_percent,
            max_healthy_percent=max_healthy_percent,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            platform_version=ecs.FargatePlatformVersion.LATEST,
            **extra,
        )

    def _task_role(self, construct_id: str, what: str) -> iam.Role:
        return iam.Role(
            self,
            construct_id,
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"vidpipe {self.suffix}: what the app in the {what} may call",
        )

    def _task_definition(
        self,
        name: str,
        family: str,
        cpu: int,
        memory_mib: int,
        task_role: iam.IRole,
        key: kms.IKey,
        log_retention_days: int,
        file_system: efs.IFileSystem | None = None,
        access_point: efs.IAccessPoint | None = None,
    ) -> ecs.FargateTaskDefinition:
        self._log_groups[name] = logs.LogGroup(
            self,
            f"{name}Logs",
            log_group_name=f"/vidpipe/{self.suffix}/{name.lower()}",
            retention=log_retention(log_retention_days),
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        task = ecs.FargateTaskDefinition(
            self,
            f"{name}Task",
            family=family,
            cpu=cpu,
            memory_limit_mib=memory_mib,
            task_role=task_role,
            execution_role=self.execution_role,
            runtime_platform=ecs.RuntimePlatform(
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
                cpu_architecture=ecs.CpuArchitecture.X86_64,
            ),
        )
        acknowledge(
            task,
            "AwsSolutions-ECS2",
            "The environment holds only non-secret settings (names, endpoints, secret ARNs); the secret values "
            "are fetched by the app through its task role at start-up and never appear in the task definition.",
        )
        task.add_volume(name="tmp")  # task ephemeral storage; the image's VOLUME /tmp gives it mode 1777
        if file_system is None or access_point is None:
            return task
        task.add_volume(
            name="scratch",
            efs_volume_configuration=ecs.EfsVolumeConfiguration(
                file_system_id=file_system.file_system_id,
                transit_encryption="ENABLED",
                authorization_config=ecs.AuthorizationConfig(
                    access_point_id=access_point.access_point_id, iam="ENABLED"
                ),
            ),
        )
        return task

    @staticmethod
    def _mount(container: ecs.ContainerDefinition, *, scratch: bool = True) -> None:
        container.add_mount_points(
            ecs.MountPoint(container_path="/tmp", source_volume="tmp", read_only=False),  # noqa: S108
        )
        if scratch:
            container.add_mount_points(
                ecs.MountPoint(container_path=SCRATCH_PATH, source_volume="scratch", read_only=False),
            )
