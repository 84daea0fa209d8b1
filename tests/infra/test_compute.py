"""Compute unit: cluster, task definitions, services, autoscaling, IAM and security groups."""

from __future__ import annotations

import json

from vidpipe.cloud.cloudwatch import METRIC_NAME, NAMESPACE
from vidpipe.settings import _GROUPS, Settings, _flat_fields

from .cfn import as_list, ref, refs, statements, text

# The backlog publisher's settings (vidpipe/jobs/metrics.py): workers and the API publish BacklogPerTask.
BACKLOG_ENV = {"VIDPIPE_METRICS_ENVIRONMENT", "VIDPIPE_ECS_CLUSTER", "VIDPIPE_ECS_SERVICE"}
# Only the API signs playback URLs (vidpipe/playback/signing.py; the agreed names).
PLAYBACK_ENV = {"VIDPIPE_PLAYBACK_SIGNER", "VIDPIPE_PLAYBACK_URL_TTL_SECONDS", "VIDPIPE_CLOUDFRONT_DOMAIN",
                "VIDPIPE_CLOUDFRONT_KEY_PAIR_ID"}  # fmt: skip
PLAYBACK_SECRET = "VIDPIPE_CLOUDFRONT_PRIVATE_KEY"


def _containers(synth, family: str) -> dict[str, dict]:
    for task in synth.resources("AWS::ECS::TaskDefinition").values():
        if task["Properties"]["Family"] == family:
            return {c["Name"]: c for c in task["Properties"]["ContainerDefinitions"]}
    raise AssertionError(f"no task definition {family}")


def _task(synth, family: str) -> dict:
    return next(
        t["Properties"] for t in synth.resources("AWS::ECS::TaskDefinition").values()
        if t["Properties"]["Family"] == family
    )  # fmt: skip


def test_cluster(dev) -> None:
    props = dev.props("AWS::ECS::Cluster")
    assert props["ClusterName"] == "video-processing-dev"
    assert {"Name": "containerInsights", "Value": "enabled"} in props["ClusterSettings"]


def test_commands(dev) -> None:
    api = _containers(dev, "vidpipe-api-dev")
    worker = _containers(dev, "vidpipe-worker-dev")
    assert api["api"]["Command"] == ["serve"]
    assert api["migrate"]["Command"] == ["db", "upgrade"]
    assert api["migrate"]["Essential"] is False
    assert api["api"]["DependsOn"] == [{"ContainerName": "migrate", "Condition": "SUCCESS"}]
    assert worker["worker"]["Command"] == ["worker"]
    assert worker["worker"]["StopTimeout"] == 120
    ingest = _containers(dev, "vidpipe-ingest-dev")
    assert set(ingest) == {"ingest"}
    assert ingest["ingest"]["Command"] == ["consume-kinesis"]
    assert ingest["ingest"]["Essential"] is True and ingest["ingest"]["StopTimeout"] == 120


def test_containers_are_locked_down(dev) -> None:
    for family in ("vidpipe-api-dev", "vidpipe-worker-dev", "vidpipe-ingest-dev"):
        task = _task(dev, family)
        assert task["RequiresCompatibilities"] == ["FARGATE"]
        assert task["ExecutionRoleArn"] != task["TaskRoleArn"]
        for container in task["ContainerDefinitions"]:
            assert container["ReadonlyRootFilesystem"] is True
            assert container["User"] == "10001:10001"
            assert container.get("Privileged") in (None, False)
            assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    # The consumer streams S3 objects into the media store: task storage for /tmp, no EFS scratch.
    ingest = _task(dev, "vidpipe-ingest-dev")
    assert ingest["Volumes"] == [{"Name": "tmp"}]
    assert ingest["ContainerDefinitions"][0]["MountPoints"] == [
        {"ContainerPath": "/tmp", "ReadOnly": False, "SourceVolume": "tmp"}
    ]  # fmt: skip
    assert (ingest["Cpu"], ingest["Memory"]) == ("256", "512")
    logs = ingest["ContainerDefinitions"][0]["LogConfiguration"]["Options"]
    group = dev.template["Resources"][dev.logical_id("Compute/IngestLogs")]["Properties"]
    assert logs["awslogs-group"] == {"Ref": dev.logical_id("Compute/IngestLogs")}
    assert group["LogGroupName"] == "/vidpipe/dev/ingest" and group["RetentionInDays"] == 14
    for family in ("vidpipe-api-dev", "vidpipe-worker-dev"):
        task = _task(dev, family)
        assert task["RequiresCompatibilities"] == ["FARGATE"]
        assert task["ExecutionRoleArn"] != task["TaskRoleArn"]
        volumes = {v["Name"]: v for v in task["Volumes"]}
        efs = volumes["scratch"]["EFSVolumeConfiguration"]
        assert efs["TransitEncryption"] == "ENABLED"
        assert efs["AuthorizationConfig"]["IAM"] == "ENABLED" and "AccessPointId" in efs["AuthorizationConfig"]
        assert volumes["tmp"] == {"Name": "tmp"}
        for container in task["ContainerDefinitions"]:
            assert container["ReadonlyRootFilesystem"] is True
            assert container["User"] == "10001:10001"
            assert container.get("Privileged") in (None, False)
            mounts = {m["ContainerPath"]: m["SourceVolume"] for m in container["MountPoints"]}
            assert mounts == {"/tmp": "tmp", "/mnt/scratch": "scratch"}
            assert container["LogConfiguration"]["LogDriver"] == "awslogs"


def _env(synth, family: str, container: str) -> dict:
    return {e["Name"]: e["Value"] for e in _containers(synth, family)[container]["Environment"]}


def test_environment_matches_the_app_settings(dev) -> None:
    api_env = _env(dev, "vidpipe-api-dev", "api")
    worker_env = _env(dev, "vidpipe-worker-dev", "worker")
    migrate_env = _env(dev, "vidpipe-api-dev", "migrate")
    assert set(api_env) - set(worker_env) == PLAYBACK_ENV
    assert set(worker_env) == set(migrate_env) | BACKLOG_ENV
    assert set(api_env) >= BACKLOG_ENV  # the API publishes the backlog too: the metric exists at zero workers
    # Top-level fields, and the flat (environment) names of the grouped ones (settings.cloud.s3_bucket is read
    # from VIDPIPE_S3_BUCKET).
    grouped = {flat for model in _GROUPS.values() for flat in _flat_fields(model)}
    fields = set(Settings.model_fields) | grouped | {n.removeprefix("VIDPIPE_").lower() for n in PLAYBACK_ENV}
    unknown = {name for name in api_env if name.removeprefix("VIDPIPE_").lower() not in fields}
    assert not unknown, f"injected variables the app does not read: {unknown}"
    assert {
        "VIDPIPE_DB_SECRET", "VIDPIPE_REDIS_AUTH_SECRET", "VIDPIPE_REDIS_ENDPOINT", "VIDPIPE_MEDIA_STORE",
        "VIDPIPE_S3_BUCKET", "VIDPIPE_KINESIS_STREAM", "VIDPIPE_DLQ_URL", "VIDPIPE_SCRATCH_DIR",
        "VIDPIPE_AWS_REGION", "VIDPIPE_DATA_DIR", "VIDPIPE_API_HOST", "VIDPIPE_PUBLIC_BASE_URL", "VIDPIPE_S3_PREFIX",
    } <= set(api_env)  # fmt: skip
    assert api_env["VIDPIPE_MEDIA_STORE"] == "s3"
    assert api_env["VIDPIPE_SCRATCH_DIR"] == "/mnt/scratch"
    assert api_env["VIDPIPE_DATA_DIR"] == "/tmp/vidpipe"
    assert api_env["VIDPIPE_API_HOST"] == "0.0.0.0"
    assert refs(api_env["VIDPIPE_DB_SECRET"]) == {dev.logical_id("Database/Secret/Attachment")}
    assert worker_env["VIDPIPE_METRICS_ENVIRONMENT"] == "dev"
    ingest_env = _env(dev, "vidpipe-ingest-dev", "ingest")
    assert ingest_env == {k: v for k, v in migrate_env.items() if k != "VIDPIPE_SCRATCH_DIR"}  # no EFS mount there
    # Settings accept every value as injected (strings parse into their types).
    literal = {k.removeprefix("VIDPIPE_").lower(): v for k, v in api_env.items() if isinstance(v, str)}
    Settings(_env_file=None, **literal)  # type: ignore[call-arg]


def test_public_base_url_is_the_stage_url(dev) -> None:
    """Every URL the API returns starts with it, so it must include the stage API Gateway serves under."""
    for family, container in (("vidpipe-api-dev", "api"), ("vidpipe-worker-dev", "worker")):
        url = _env(dev, family, container)["VIDPIPE_PUBLIC_BASE_URL"]
        assert url == {"Fn::Join": ["", ["https://", ref(dev.logical_id("Api/RestApi")), ".execute-api.",
                                         ref("AWS::Region"), ".", ref("AWS::URLSuffix"), "/v1"]]}  # fmt: skip
    assert dev.props("AWS::ApiGateway::Stage")["StageName"] == "v1"


def test_playback_signing_settings_reach_only_the_api(dev) -> None:
    api = _containers(dev, "vidpipe-api-dev")["api"]
    env = _env(dev, "vidpipe-api-dev", "api")
    assert env["VIDPIPE_PLAYBACK_SIGNER"] == "cloudfront"
    assert env["VIDPIPE_PLAYBACK_URL_TTL_SECONDS"] == "21600"
    assert env["VIDPIPE_CLOUDFRONT_DOMAIN"] == {"Fn::GetAtt": [dev.logical_id("Delivery/Distribution"), "DomainName"]}
    assert env["VIDPIPE_CLOUDFRONT_KEY_PAIR_ID"] == ref(dev.logical_id("Delivery/PublicKey"))
    # The PEM is an ECS secret (resolved by the agent at start), never an environment value.
    assert api["Secrets"] == [{"Name": PLAYBACK_SECRET, "ValueFrom": ref(dev.logical_id("Delivery/SigningKey"))}]
    assert PLAYBACK_SECRET not in text(dev.resources("AWS::ECS::TaskDefinition")).replace(
        text(api["Secrets"]), "")  # fmt: skip
    for family, container in (("vidpipe-worker-dev", "worker"), ("vidpipe-ingest-dev", "ingest"),
                              ("vidpipe-api-dev", "migrate")):  # fmt: skip
        assert not PLAYBACK_ENV & set(_env(dev, family, container)), (family, container)
        assert "Secrets" not in _containers(dev, family)[container]
    assert _env(dev, "vidpipe-api-dev", "api")["VIDPIPE_S3_PREFIX"] == "media/"


def test_image_comes_from_the_stack_repository(dev, prod) -> None:
    for synth in (dev, prod):
        repo_id, repo = synth.one("AWS::ECR::Repository")
        props = repo["Properties"]
        assert props["RepositoryName"] == f"vidpipe-{synth.suffix}"
        assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
        assert props["ImageTagMutability"] == "IMMUTABLE"
        assert props["EmptyOnDelete"] is True and repo["DeletionPolicy"] == "Delete"
        assert props["EncryptionConfiguration"]["EncryptionType"] == "KMS"
        rules = json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
        assert [(r["selection"]["tagStatus"], r["selection"]["countType"]) for r in rules] == [
            ("untagged", "sinceImagePushed"), ("any", "imageCountMoreThan")
        ]  # fmt: skip
        assert all(r["action"]["type"] == "expire" for r in rules)
        for task in synth.resources("AWS::ECS::TaskDefinition").values():
            for container in task["Properties"]["ContainerDefinitions"]:
                image = container["Image"]
                assert repo_id in refs(image), container["Name"]
                assert image["Fn::Join"][1][-1] == ":bootstrap"  # the default tag; deploys pass -c imageTag
    assert not [p for p in dev.outdir.glob("asset.*") if (p / "Dockerfile").exists()], "no CDK-built image asset"


def test_image_tag_and_first_deploy_come_from_context(tmp_path) -> None:
    import pytest
    from vidpipe_infra.app import build_app
    from vidpipe_infra.registry import validate_image_tag

    from .conftest import cdk_context

    app = build_app(context={**cdk_context(), "imageTag": "3f2a9c1", "firstDeploy": "true"}, outdir=str(tmp_path),
                    nag=False)  # fmt: skip
    template = app.synth().get_stack_by_name("Vidpipe-dev").template
    tasks = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    assert {c["Image"]["Fn::Join"][1][-1] for t in tasks for c in t["Properties"]["ContainerDefinitions"]} == {
        ":3f2a9c1"
    }  # fmt: skip
    counts = {r["Properties"]["ServiceName"]: r["Properties"]["DesiredCount"]
              for r in template["Resources"].values() if r["Type"] == "AWS::ECS::Service"}  # fmt: skip
    assert counts == {"vidpipe-api-dev": 0, "vidpipe-worker-dev": 0, "vidpipe-ingest-dev": 0}
    with pytest.raises(ValueError, match="imageTag"):
        validate_image_tag("latest:bad")


def test_services(dev, prod) -> None:
    services = {s["Properties"]["ServiceName"]: s["Properties"] for s in dev.resources("AWS::ECS::Service").values()}
    assert set(services) == {"vidpipe-api-dev", "vidpipe-worker-dev", "vidpipe-ingest-dev"}
    private = {k for k in dev.resources("AWS::EC2::Subnet") if "private" in k}
    for props in services.values():
        assert props["LaunchType"] == "FARGATE"
        vpc = props["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert vpc["AssignPublicIp"] == "DISABLED"
        assert refs(vpc["Subnets"]) == private
        assert props["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert services["vidpipe-api-dev"]["LoadBalancers"][0]["ContainerPort"] == 8000
    prod_services = {
        s["Properties"]["ServiceName"]: s["Properties"] for s in prod.resources("AWS::ECS::Service").values()
    }
    assert prod_services["vidpipe-api-prod"]["DesiredCount"] == 2
    assert (_task(prod, "vidpipe-ingest-prod")["Cpu"], _task(prod, "vidpipe-ingest-prod")["Memory"]) == ("512", "1024")


def test_exactly_one_kinesis_consumer(dev, prod) -> None:
    """Two consumers would read the same shards: one task, never two, not even during a deploy."""
    for synth in (dev, prod):
        ingest_id = synth.logical_id("Compute/IngestService/Service")
        props = synth.template["Resources"][ingest_id]["Properties"]
        assert props["ServiceName"] == f"vidpipe-ingest-{synth.suffix}"
        assert props["DesiredCount"] == 1
        deployment = props["DeploymentConfiguration"]
        assert (deployment["MinimumHealthyPercent"], deployment["MaximumPercent"]) == (0, 100)
        assert "LoadBalancers" not in props
        vpc = props["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert refs(vpc["SecurityGroups"]) == {synth.logical_id("Compute/IngestSg")}
        scaled = [t for t in synth.resources("AWS::ApplicationAutoScaling::ScalableTarget").values()
                  if ingest_id in text(t["Properties"]["ResourceId"])]  # fmt: skip
        assert scaled == []


def test_worker_scales_on_backlog_and_cpu(dev) -> None:
    worker = dev.logical_id("Compute/WorkerService/Service")
    targets = {
        k: t["Properties"] for k, t in dev.resources("AWS::ApplicationAutoScaling::ScalableTarget").items()
        if worker in text(t["Properties"]["ResourceId"])
    }  # fmt: skip
    (target_id, target), = targets.items()
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 4)  # scales to zero when idle
    policies = [
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        for p in dev.resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if p["Properties"]["ScalingTargetId"] == ref(target_id)
        and p["Properties"]["PolicyType"] == "TargetTrackingScaling"
    ]
    assert len(policies) == 2
    cpu = next(p for p in policies if "PredefinedMetricSpecification" in p)
    assert cpu["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    backlog = next(p for p in policies if "CustomizedMetricSpecification" in p)
    metric = backlog["CustomizedMetricSpecification"]
    # The same names the app publishes (vidpipe/cloud/cloudwatch.py).
    assert (metric["Namespace"], metric["MetricName"]) == (NAMESPACE, METRIC_NAME)
    assert metric["Dimensions"] == [{"Name": "Environment", "Value": "dev"}]
    assert backlog["TargetValue"] == 4
    assert backlog["ScaleInCooldown"] == 300
    assert "DisableScaleIn" not in backlog  # target tracking takes an idle service down to MinCapacity 0


def test_worker_scales_from_zero_on_the_backlog(dev, prod) -> None:
    """Target tracking cannot start the first task; a step policy on "queued and none running" does."""
    for synth in (dev, prod):
        services = {s["Properties"]["ServiceName"]: s["Properties"]
                    for s in synth.resources("AWS::ECS::Service").values()}  # fmt: skip
        assert services[f"vidpipe-worker-{synth.suffix}"]["DesiredCount"] == 0
        target_id = synth.logical_id("Compute/WorkerService/TaskCount/Target")
        step = synth.template["Resources"][synth.logical_id("Compute/WorkerScaling/FromZero/Resource")]["Properties"]
        assert step["PolicyType"] == "StepScaling" and step["ScalingTargetId"] == ref(target_id)
        config = step["StepScalingPolicyConfiguration"]
        assert config["AdjustmentType"] == "ChangeInCapacity"
        assert config["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]
        alarm = next(a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()
                     if a["Properties"]["AlarmName"] == f"worker-scale-from-zero-{synth.suffix}")  # fmt: skip
        assert alarm["AlarmActions"] == [ref(synth.logical_id("Compute/WorkerScaling/FromZero/Resource"))]
        assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["EvaluationPeriods"]) == (
            "GreaterThanOrEqualToThreshold", 1, 1)  # fmt: skip
        metrics = {m["Id"]: m for m in alarm["Metrics"]}
        assert metrics["expr_1"]["Expression"] == "IF(backlog > 0 AND FILL(running, 0) < 1, 1, 0)"
        backlog = metrics["backlog"]["MetricStat"]
        assert (backlog["Metric"]["Namespace"], backlog["Metric"]["MetricName"], backlog["Period"]) == (
            NAMESPACE, METRIC_NAME, 60)  # fmt: skip
        running = metrics["running"]["MetricStat"]["Metric"]
        assert running["MetricName"] == "RunningTaskCount"
        assert {"Name": "ServiceName", "Value": f"vidpipe-worker-{synth.suffix}"} in running["Dimensions"]


def test_log_groups_have_retention_and_key(dev, prod) -> None:
    for synth, days in ((dev, 14), (prod, 90)):
        groups = synth.resources("AWS::Logs::LogGroup")
        assert len(groups) >= 8
        for group in groups.values():
            assert group["Properties"]["RetentionInDays"] == days
            assert "KmsKeyId" in group["Properties"]
            assert group["Properties"]["LogGroupName"].startswith(("/vidpipe/", "/aws/"))


# --- IAM ------------------------------------------------------------------------------------------------------------
def _actions(statement) -> set[str]:
    return set(as_list(statement["Action"]))


def test_task_roles_are_least_privilege(dev) -> None:
    api = statements(dev.template, dev.logical_id("Compute/ApiTaskRole"))
    worker = statements(dev.template, dev.logical_id("Compute/WorkerTaskRole"))
    ingest = statements(dev.template, dev.logical_id("Compute/IngestTaskRole"))
    for st in api + worker + ingest:
        assert not any(a.endswith("*") for a in _actions(st)), f"wildcard action in {st}"
        assert st["Effect"] == "Allow"
        if as_list(st["Resource"]) == ["*"]:
            assert _actions(st) == {"cloudwatch:PutMetricData"}
            assert st["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Vidpipe"}}
    api_actions = set().union(*map(_actions, api))
    worker_actions = set().union(*map(_actions, worker))
    assert {"kinesis:PutRecord", "kinesis:PutRecords"} <= api_actions
    assert "kinesis:GetRecords" not in api_actions
    assert {"cloudwatch:PutMetricData", "ecs:DescribeServices"} <= api_actions  # the backlog at zero workers
    assert "ecs:UpdateTaskProtection" not in api_actions
    assert not any(a.startswith("kinesis:") for a in worker_actions)  # only the consumer reads the stream
    assert "sqs:SendMessage" in worker_actions and "sqs:SendMessage" not in api_actions
    assert {"elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"} <= api_actions & worker_actions
    assert "elasticfilesystem:ClientRootAccess" not in api_actions | worker_actions
    secret_reads = [st for st in api if "secretsmanager:GetSecretValue" in _actions(st)]
    assert len(secret_reads) == 1 and len(as_list(secret_reads[0]["Resource"])) == 2


def _by_sid(synth, role_path: str) -> dict[str | None, tuple[set[str], list]]:
    """Statements by Sid (CDK's own grants, e.g. EFS, have none and share the key None)."""
    found = statements(synth.template, synth.logical_id(role_path))
    return {st.get("Sid"): (_actions(st), as_list(st["Resource"])) for st in found}


def test_bucket_listing_per_role(dev) -> None:
    """Only workers sweep abandoned multipart uploads at start-up (S3MediaStore.sweep_incoming)."""
    bucket = {"Fn::GetAtt": [dev.logical_id("Storage/Media"), "Arn"]}
    objects = {"Fn::Join": ["", [bucket, "/*"]]}
    expected_listing = {
        "Compute/WorkerTaskRole": {"s3:ListBucket", "s3:ListBucketMultipartUploads"},
        "Compute/ApiTaskRole": {"s3:ListBucket"},
        "Compute/IngestTaskRole": {"s3:ListBucket"},
    }
    for role, listing in expected_listing.items():
        sids = _by_sid(dev, role)
        assert sids["ListMedia"] == (listing, [bucket]), role
        assert sids["ReadWriteMedia"] == (
            {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}, [objects]
        ), role  # fmt: skip
        every = set().union(*(actions for actions, _ in sids.values()))
        assert "s3:ListMultipartUploadParts" not in every, role  # no code lists the parts of an upload


def test_ingest_role_is_exactly_what_the_consumer_calls(dev) -> None:
    sids = _by_sid(dev, "Compute/IngestTaskRole")
    key = {"Fn::GetAtt": [dev.logical_id("Encryption/Key"), "Arn"]}
    stream = {"Fn::GetAtt": [dev.logical_id("Messaging/IngestEvents"), "Arn"]}
    assert set(sids) == {"ReadSecrets", "UsePlatformKey", "ListMedia", "ReadWriteMedia", "ConsumeIngestEvents"}
    # The three calls KinesisConsumer makes (ListShards, GetShardIterator, GetRecords), on this stream only.
    assert sids["ConsumeIngestEvents"] == (
        {"kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords"}, [stream]
    )  # fmt: skip
    assert sids["UsePlatformKey"] == ({"kms:Decrypt", "kms:GenerateDataKey"}, [key])
    secrets, resources = sids["ReadSecrets"]
    assert secrets == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    assert refs(resources) == {dev.logical_id("Database/Secret/Attachment"), dev.logical_id("Cache/AuthToken")}
    task = _task(dev, "vidpipe-ingest-dev")
    assert task["TaskRoleArn"] == {"Fn::GetAtt": [dev.logical_id("Compute/IngestTaskRole"), "Arn"]}


def test_execution_role_only_pulls_and_logs(dev) -> None:
    execution = statements(dev.template, dev.logical_id("Compute/ExecutionRole"))
    actions = set().union(*map(_actions, execution))
    assert actions <= {
        "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage", "logs:CreateLogStream", "logs:PutLogEvents",
        "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "kms:Decrypt",
    }  # fmt: skip
    for st in execution:
        if as_list(st["Resource"]) == ["*"]:
            assert _actions(st) == {"ecr:GetAuthorizationToken"}
        if _actions(st) & {"secretsmanager:GetSecretValue"}:  # only the signing key, for the API's ECS secret
            assert refs(st["Resource"]) == {dev.logical_id("Delivery/SigningKey")}
        if "ecr:BatchGetImage" in _actions(st):
            assert refs(st["Resource"]) == {dev.logical_id("Registry/Repository")}


# --- security groups ----------------------------------------------------------------------------------------------
def _ingress(synth, sg_path: str) -> set[tuple[str, int]]:
    """(source, port) pairs admitted by a security group, sources as construct logical ids or CIDRs."""
    sg_id = synth.logical_id(sg_path)
    rules = list(synth.template["Resources"][sg_id]["Properties"].get("SecurityGroupIngress", []))
    for res in synth.resources("AWS::EC2::SecurityGroupIngress").values():
        if refs(res["Properties"]["GroupId"]) == {sg_id}:
            rules.append(res["Properties"])
    out = set()
    for rule in rules:
        assert rule["FromPort"] == rule["ToPort"]
        source = rule.get("CidrIp") or next(iter(refs(rule["SourceSecurityGroupId"])))
        port = rule["FromPort"]  # a number, or the DB's Endpoint.Port attribute
        out.add((source, port if isinstance(port, int) else text(port)))
    return out


def test_security_groups_pairwise(dev) -> None:
    api, worker, nlb = (dev.logical_id(f"Compute/{n}") for n in ("ApiSg", "WorkerSg", "NlbSg"))
    db_port = text({"Fn::GetAtt": [dev.logical_id("Database/Instance"), "Endpoint.Port"]})
    ingest = dev.logical_id("Compute/IngestSg")
    rotation = dev.logical_id("Database/RotationSg")
    assert _ingress(dev, "Database/Sg") == {(api, db_port), (worker, db_port), (ingest, db_port), (rotation, db_port)}
    assert dev.props("AWS::RDS::DBInstance").get("Port", "5432") == "5432"
    assert _ingress(dev, "Cache/Sg") == {(api, 6379), (worker, 6379), (ingest, 6379)}
    assert _ingress(dev, "FileSystem/Sg") == {(api, 2049), (worker, 2049)}
    assert _ingress(dev, "Compute/ApiSg") == {(nlb, 8000)}
    assert _ingress(dev, "Compute/WorkerSg") == set()
    assert _ingress(dev, "Compute/IngestSg") == set()
    egress = dev.template["Resources"][ingest]["Properties"]["SecurityGroupEgress"]
    assert {(r["CidrIp"], r["FromPort"]) for r in egress} == {("0.0.0.0/0", 443), ("0.0.0.0/0", 80)}
    assert _ingress(dev, "Compute/NlbSg") == {("10.40.0.0/16", 80)}


def test_nothing_admits_the_internet(dev) -> None:
    for sg in dev.resources("AWS::EC2::SecurityGroup").values():
        for rule in sg["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") != "0.0.0.0/0" and rule.get("CidrIpv6") != "::/0"
    for rule in dev.resources("AWS::EC2::SecurityGroupIngress").values():
        assert "CidrIp" not in rule["Properties"]


def test_data_stores_have_no_egress(dev) -> None:
    for path in ("Database/Sg", "Cache/Sg", "FileSystem/Sg"):
        egress = dev.template["Resources"][dev.logical_id(path)]["Properties"]["SecurityGroupEgress"]
        assert egress == [{"CidrIp": "255.255.255.255/32", "Description": "Disallow all traffic", "FromPort": 252,
                           "IpProtocol": "icmp", "ToPort": 86}]  # fmt: skip
