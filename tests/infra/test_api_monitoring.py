"""API, monitoring and discovery units."""

from __future__ import annotations

from vidpipe_infra.discovery import PARAMETERS, SEED_PARAMETERS

from .cfn import refs, text


def test_nlb_is_internal_tcp_to_port_8000(dev) -> None:
    nlb = dev.props("AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert (nlb["Type"], nlb["Scheme"], nlb["Name"]) == ("network", "internal", "api-nlb-dev")
    tg = dev.props("AWS::ElasticLoadBalancingV2::TargetGroup")
    assert (tg["Port"], tg["Protocol"], tg["TargetType"]) == (8000, "TCP", "ip")
    assert (tg["HealthCheckProtocol"], tg["HealthCheckPath"]) == ("HTTP", "/healthz")
    listener = dev.props("AWS::ElasticLoadBalancingV2::Listener")
    assert (listener["Port"], listener["Protocol"]) == (80, "TCP")


def test_nlb_admits_the_vpc_link_without_opening_to_the_world(dev, prod) -> None:
    """AWS's guide for a REST API VPC link to an NLB with security groups: PrivateLink evaluation off."""
    for synth in (dev, prod):
        nlb = synth.props("AWS::ElasticLoadBalancingV2::LoadBalancer")
        assert nlb["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "off"
        assert refs(nlb["SecurityGroups"]) == {synth.logical_id("Compute/NlbSg")}
        sg = synth.template["Resources"][synth.logical_id("Compute/NlbSg")]["Properties"]
        assert [(r["CidrIp"], r["FromPort"], r["ToPort"]) for r in sg["SecurityGroupIngress"]] == [
            ("10.40.0.0/16", 80, 80)
        ]  # fmt: skip


def test_rest_api_goes_through_the_vpc_link(dev) -> None:
    assert dev.props("AWS::ApiGateway::RestApi")["Name"] == "vidpipe-api-dev"
    link_id, link = dev.one("AWS::ApiGateway::VpcLink")
    assert refs(link["Properties"]["TargetArns"]) == {dev.logical_id("Compute/Nlb")}
    methods = dev.resources("AWS::ApiGateway::Method").values()
    assert len(methods) == 2
    for method in methods:
        props = method["Properties"]
        assert props["ApiKeyRequired"] is True
        assert props["Integration"]["ConnectionType"] == "VPC_LINK"
        assert props["Integration"]["ConnectionId"] == {"Ref": link_id}
        assert props["Integration"]["Type"] == "HTTP_PROXY"
        assert "RequestValidatorId" in props


def test_stage_throttles_and_logs(dev, prod) -> None:
    stage = dev.props("AWS::ApiGateway::Stage")
    assert stage["StageName"] == "v1"
    assert stage["TracingEnabled"] is True
    assert refs(stage["AccessLogSetting"]["DestinationArn"]) == {dev.logical_id("Api/AccessLogs")}
    (settings,) = stage["MethodSettings"]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (50, 100)
    assert settings["DataTraceEnabled"] is False
    assert prod.props("AWS::ApiGateway::Stage")["MethodSettings"][0]["ThrottlingRateLimit"] == 500
    plan = dev.props("AWS::ApiGateway::UsagePlan")
    assert plan["Throttle"] == {"BurstLimit": 100, "RateLimit": 50}


def test_api_key_comes_from_secrets_manager(dev) -> None:
    key = dev.props("AWS::ApiGateway::ApiKey")
    secret_id = dev.logical_id("Api/ApiKeySecret")
    assert "{{resolve:secretsmanager:" in text(key["Value"]) and secret_id in text(key["Value"])
    assert key["Name"] == "api-key-dev"


EXPECTED_ALARMS = {
    "dlq-not-empty-dev", "kinesis-write-throttled-dev", "ecs-below-desired-vidpipe-api-dev",
    "ecs-below-desired-vidpipe-worker-dev", "rds-cpu-high-dev", "rds-free-storage-low-dev",
    "redis-cpu-high-redis-dev-001", "redis-cpu-high-redis-dev-002", "redis-evictions-redis-dev-001",
    "redis-evictions-redis-dev-002", "api-5xx-dev", "ingest-consumer-not-running-dev", "ingest-consumer-behind-dev",
}  # fmt: skip


def test_alarms_notify_the_encrypted_topic(dev) -> None:
    topic_id, topic = dev.one("AWS::SNS::Topic")
    assert topic["Properties"]["TopicName"] == "alarms-dev" and "KmsMasterKeyId" in topic["Properties"]
    alarms = {a["Properties"]["AlarmName"]: a["Properties"] for a in dev.resources("AWS::CloudWatch::Alarm").values()}
    assert set(alarms) == EXPECTED_ALARMS | {"worker-scale-from-zero-dev"}
    scaling = alarms.pop("worker-scale-from-zero-dev")  # acts on the worker service, not on people
    assert scaling["AlarmActions"] == [{"Ref": dev.logical_id("Compute/WorkerScaling/FromZero/Resource")}]
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": topic_id}]
        assert props["TreatMissingData"] == "notBreaching"
    assert alarms["dlq-not-empty-dev"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarms["dlq-not-empty-dev"]["Threshold"] == 0
    assert alarms["kinesis-write-throttled-dev"]["MetricName"] == "WriteProvisionedThroughputExceeded"
    assert alarms["rds-free-storage-low-dev"]["ComparisonOperator"] == "LessThanThreshold"
    assert alarms["api-5xx-dev"]["Dimensions"] == [
        {"Name": "ApiName", "Value": "vidpipe-api-dev"}, {"Name": "Stage", "Value": "v1"}
    ]  # fmt: skip
    down = alarms["ingest-consumer-not-running-dev"]
    assert (down["Namespace"], down["MetricName"], down["Statistic"]) == (
        "ECS/ContainerInsights", "RunningTaskCount", "Average"
    )  # fmt: skip
    assert down["Dimensions"] == [
        {"Name": "ClusterName", "Value": {"Ref": dev.logical_id("Compute/Cluster")}},
        {"Name": "ServiceName", "Value": "vidpipe-ingest-dev"},
    ]  # fmt: skip
    assert (down["ComparisonOperator"], down["Threshold"], down["EvaluationPeriods"]) == ("LessThanThreshold", 1, 3)
    behind = alarms["ingest-consumer-behind-dev"]
    assert (behind["Namespace"], behind["MetricName"], behind["Statistic"]) == (
        "AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "Maximum"
    )  # fmt: skip
    assert behind["Dimensions"] == [{"Name": "StreamName", "Value": {"Ref": dev.logical_id("Messaging/IngestEvents")}}]
    assert (behind["ComparisonOperator"], behind["Threshold"]) == ("GreaterThanThreshold", 600_000)
    assert "ecs-below-desired-vidpipe-ingest-dev" not in alarms  # the dedicated alarm covers it
    below = alarms["ecs-below-desired-vidpipe-worker-dev"]["Metrics"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in below if "MetricStat" in m} == {
        "DesiredTaskCount", "RunningTaskCount"
    }  # fmt: skip


def test_dashboard(dev) -> None:
    props = dev.props("AWS::CloudWatch::Dashboard")
    assert props["DashboardName"] == "vidpipe-dev"
    assert "BacklogPerTask" in text(props["DashboardBody"])
    assert "GetRecords.IteratorAgeMilliseconds" in text(props["DashboardBody"])


def test_outputs_and_parameters(dev) -> None:
    outputs = dev.template["Outputs"]
    assert {"VpcId", "EcsClusterName", "RdsEndpoint", "RedisEndpoint", "EfsFileSystemId", "ApiEndpoint",
            "DbSecretArn", "MediaBucketName", "IngestStreamName", "DeadLetterQueueName"} <= set(outputs)  # fmt: skip
    params = {p["Properties"]["Name"]: p["Properties"] for p in dev.resources("AWS::SSM::Parameter").values()}
    assert set(params) == {f"/vidpipe/dev/{leaf}" for leaf in PARAMETERS.values()} | {
        f"/videopgvector/{leaf}-dev" for leaf in SEED_PARAMETERS.values()
    }  # fmt: skip
    assert refs(params["/vidpipe/dev/vpc-id"]["Value"]) == {dev.logical_id("Network/Vpc")}
    assert params["/vidpipe/dev/ecs-cluster-name"]["Value"] == {"Ref": dev.logical_id("Compute/Cluster")}
    ingest = dev.logical_id("Compute/IngestService/Service")
    assert params["/vidpipe/dev/ingest-service-name"]["Value"] == {"Fn::GetAtt": [ingest, "Name"]}
    assert outputs["IngestServiceName"]["Value"] == {"Fn::GetAtt": [ingest, "Name"]}
