"""Whole-template gates: cdk-nag, cfn-lint, checkov, removal policies, tags, naming."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .cfn import tags
from .conftest import IN_CI, REPO

# Every reviewed cdk-nag exception, by construct path (relative to the stack). A new finding fails the
# synth; a new acknowledgement fails this test until it is added here, with its reason, in review.
EXPECTED_ACKNOWLEDGEMENTS = {
    ("Storage/AccessLogs", "AwsSolutions-S1"),
    ("Database/Instance", "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                          "AmazonRDSEnhancedMonitoringRole]"),
    ("Database/Instance", "AwsSolutions-RDS11"),
    ("Database/Instance", "AwsSolutions-RDS10"),  # dev only: prod turns deletion protection on
    ("Cache/Rotation/Role", "AwsSolutions-IAM5[Resource::*]"),  # GetRandomPassword has no resource ARN
    ("Cache/Group", "AwsSolutions-AEC5"),
    ("Messaging/IngestEvents", "AwsSolutions-KDS3"),
    ("Messaging/JobsDlq", "AwsSolutions-SQS3"),
    ("Compute/ExecutionRole", "AwsSolutions-IAM5[Resource::*]"),
    ("Compute/ApiTaskRole", "AwsSolutions-IAM5[Resource::<StorageMedia9333CB25.Arn>/*]"),
    ("Compute/WorkerTaskRole", "AwsSolutions-IAM5[Resource::<StorageMedia9333CB25.Arn>/*]"),
    ("Compute/IngestTaskRole", "AwsSolutions-IAM5[Resource::<StorageMedia9333CB25.Arn>/*]"),
    ("Compute/WorkerTaskRole", "AwsSolutions-IAM5[Resource::*]"),
    ("Compute/ApiTaskRole", "AwsSolutions-IAM5[Resource::*]"),  # PutMetricData: the API publishes the backlog too
    ("Compute/WorkerTaskRole", "AwsSolutions-IAM5[Resource::arn:aws:ecs:us-east-1:<AWS::AccountId>:task/"
                               "video-processing-dev/*]"),
    ("Compute/ApiTask", "AwsSolutions-ECS2"),
    ("Compute/WorkerTask", "AwsSolutions-ECS2"),
    ("Compute/IngestTask", "AwsSolutions-ECS2"),
    ("Compute/Nlb", "AwsSolutions-ELB2"),
    ("Api/RestApi", "AwsSolutions-APIG3"),
    ("Api/RestApi", "AwsSolutions-APIG4"),
    ("Api/RestApi", "AwsSolutions-COG4"),
    ("Api/RestApi", "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs]"),
    ("Api/ApiKeySecret", "AwsSolutions-SMG4"),
    ("Delivery/SigningKey", "AwsSolutions-SMG4"),
    ("Delivery/Distribution", "AwsSolutions-CFR1"),
    ("Delivery/Distribution", "AwsSolutions-CFR2"),
    ("Delivery/Distribution", "AwsSolutions-CFR4"),
}  # fmt: skip

# checkov checks skipped in the template's Metadata, by resource logical-id prefix.
PROVIDERS = (
    "CustomS3AutoDeleteObjectsCustomResourceProviderHandler",
    "CustomVpcRestrictDefaultSGCustomResourceProviderHandler",
)
EXPECTED_CHECKOV_SKIPS = {
    ("StorageAccessLogs", "CKV_AWS_18"),
    ("StorageAccessLogs", "CKV_AWS_21"),
    ("ComputeNlb", "CKV_AWS_91"),
    ("ApiRestApiDeploymentStagev1", "CKV_AWS_120"),
    *(("DeliveryDistribution", c) for c in ("CKV_AWS_68", "CKV_AWS_174")),
    *(("DeliveryKeyPairFunction", c) for c in ("CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173")),
    *(("CacheRotationFunction", c) for c in ("CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117")),
    *((p, c) for p in PROVIDERS for c in ("CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117")),
}


def _acknowledgements(synth) -> dict[tuple[str, str], str]:
    prefix = synth.stack.node.path + "/"
    found = {}
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != "aws:cdk:acknowledged-rules":
                continue
            for rule, reason in entry.data.items():
                rule = rule.removeprefix("Annotation::")
                if rule.startswith("AwsSolutions-"):
                    found[(construct.node.path.removeprefix(prefix), rule)] = reason
    return found


def test_cdk_nag_has_no_unacknowledged_findings(dev, prod) -> None:
    for synth in (dev, prod):
        assert synth.error is None, synth.error
        violations = [v for r in synth.report["pluginReports"] for v in r.get("violations", [])]
        assert violations == [], json.dumps(violations, indent=1)[:4000]


def test_acknowledgements_are_exactly_the_reviewed_set(dev, prod) -> None:
    found = _acknowledgements(dev)
    assert set(found) == EXPECTED_ACKNOWLEDGEMENTS
    for (path, rule), reason in found.items():
        assert len(reason) >= 60, f"{path} {rule}: a reason must convince a reviewer, got {reason!r}"
    prod_expected = {
        (p, r.replace("video-processing-dev", "video-processing-prod").replace("9333CB25", _media_hash(prod)))
        for p, r in EXPECTED_ACKNOWLEDGEMENTS
        if r != "AwsSolutions-RDS10"
    }
    assert set(_acknowledgements(prod)) == prod_expected


def _media_hash(synth) -> str:
    return synth.logical_id("Storage/Media").removeprefix("StorageMedia")


def test_acknowledgements_reach_the_template(dev) -> None:
    """cdk-nag writes them into Metadata too, for auditors reading only the template."""
    meta = dev.template["Resources"][dev.logical_id("Cache/Group")]["Metadata"]["cdk_nag"]["rules_to_suppress"]
    assert {"AwsSolutions-AEC5"} <= {r["id"].removeprefix("Annotation::") for r in meta}


def test_an_unacknowledged_finding_fails_synthesis(tmp_path: Path) -> None:
    """The gate is real: the same plugin setup rejects a non-compliant construct."""
    from aws_cdk import App, Stack, Validations
    from aws_cdk import aws_sqs as sqs
    from cdk_nag import AwsSolutionsChecks

    app = App(outdir=str(tmp_path))
    sqs.Queue(Stack(app, "Bad"), "Plain")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="AwsSolutions-SQS4"):
        app.synth()


def test_no_retain_anywhere(dev, prod) -> None:
    for synth in (dev, prod):
        for logical_id, res in synth.template["Resources"].items():
            for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
                assert res.get(policy, "Delete") == "Delete", f"{logical_id} {policy}={res.get(policy)}"


def test_every_taggable_resource_carries_the_four_tags(dev) -> None:
    tagged = 0
    for logical_id, res in dev.template["Resources"].items():
        found = tags(res)
        if found is None:
            continue
        tagged += 1
        assert {"Project": "vidpipe", "Environment": "dev", "Owner": "platform-team",
                "CostCenter": "media-platform"}.items() <= found.items(), logical_id  # fmt: skip
    assert tagged > 40
    rg = dev.template["Resources"][dev.logical_id("Cache/Group")]
    assert tags(rg)["Environment"] == "dev"


def test_names_carry_the_suffix(prod) -> None:
    names = {
        "AWS::ECS::Cluster": "ClusterName", "AWS::RDS::DBInstance": "DBInstanceIdentifier",
        "AWS::ElastiCache::ReplicationGroup": "ReplicationGroupId", "AWS::Kinesis::Stream": "Name",
        "AWS::SQS::Queue": "QueueName", "AWS::SNS::Topic": "TopicName", "AWS::ApiGateway::RestApi": "Name",
        "AWS::ElasticLoadBalancingV2::LoadBalancer": "Name", "AWS::CloudWatch::Dashboard": "DashboardName",
        "AWS::EC2::SecurityGroup": "GroupName", "AWS::ECS::Service": "ServiceName",
        "AWS::ECR::Repository": "RepositoryName", "AWS::CloudFront::KeyGroup": "KeyGroupConfig.Name",
        "AWS::CloudFront::PublicKey": "PublicKeyConfig.Name",
        "AWS::CloudFront::VpcOrigin": "VpcOriginEndpointConfig.Name",
        "AWS::CloudFront::OriginAccessControl": "OriginAccessControlConfig.Name",
    }  # fmt: skip
    ours = {"FunctionName": ("cdn-key-pair-prod", "redis-rotation-prod")}
    for type_, prop in names.items():
        assert prod.resources(type_), type_
        for res in prod.resources(type_).values():
            value = res["Properties"]
            for part in prop.split("."):
                value = value[part]
            assert value.endswith("-prod"), (type_, value)
    functions = {f["Properties"].get("FunctionName") for f in prod.resources("AWS::Lambda::Function").values()}
    assert set(ours["FunctionName"]) <= functions
    assert "dev" not in json.dumps(prod.template).replace("/dev/", "").replace("device", "")


def test_cfn_lint_finds_no_errors(dev, prod) -> None:
    for synth in (dev, prod):
        path = synth.outdir / f"Vidpipe-{synth.suffix}.template.json"
        proc = subprocess.run(
            [str(Path(sys.executable).with_name("cfn-lint")), "--format", "json", "--", str(path)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode in (0, 4, 8, 12), proc.stderr  # bit flags: 2=error, 4=warning, 8=info
        findings = json.loads(proc.stdout or "[]")
        errors = [f for f in findings if f["Level"] == "Error"]
        assert errors == [], errors
        # Warnings allowed: only W3005 (redundant DependsOn), all on resources CDK itself generates.
        assert {f["Rule"]["Id"] for f in findings} <= {"W3005"}


def _checkov() -> Path | None:
    path = Path(os.environ.get("VIDPIPE_CHECKOV", REPO / ".venv-infra" / "bin" / "checkov"))
    return path if path.exists() else None


def test_checkov_passes_with_only_reviewed_skips(dev) -> None:
    checkov = _checkov()
    if checkov is None:
        if IN_CI:
            pytest.fail("checkov missing: run `bash infra/install-tools.sh` (or set VIDPIPE_CHECKOV)")
        pytest.skip("checkov not installed: bash infra/install-tools.sh")
    template = dev.outdir / "Vidpipe-dev.template.json"
    proc = subprocess.run(
        [str(checkov), "-f", str(template), "--framework", "cloudformation", "--output", "json", "--compact",
         "--skip-download"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    result = json.loads(proc.stdout)
    result = result[0] if isinstance(result, list) else result
    failed = [(f["check_id"], f["resource"]) for f in result["results"]["failed_checks"]]
    assert failed == [], failed
    assert result["summary"]["parsing_errors"] == 0
    skipped = set()
    for check in result["results"]["skipped_checks"]:
        logical_id = check["resource"].split(".", 1)[1]
        prefix = next(p for p, _ in EXPECTED_CHECKOV_SKIPS if logical_id.startswith(p))
        skipped.add((prefix, check["check_id"]))
        assert len(check["check_result"].get("suppress_comment", "")) >= 40, check
    assert skipped == EXPECTED_CHECKOV_SKIPS
    assert result["summary"]["passed"] > 200
