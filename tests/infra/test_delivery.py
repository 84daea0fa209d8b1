"""Delivery, rotation and the seed contract: CloudFront signed media and the console, secret rotation, SSM
parameters and the documented entry points."""

from __future__ import annotations

import json

from .cfn import ref, refs, text
from .conftest import INFRA


def _distribution(synth) -> dict:
    return synth.props("AWS::CloudFront::Distribution")["DistributionConfig"]


def test_media_is_served_from_s3_through_oac_with_signed_urls_only(dev) -> None:
    config = _distribution(dev)
    origins = {o["Id"]: o for o in config["Origins"]}
    (media,) = config["CacheBehaviors"]
    assert media["PathPattern"] == "media/*"
    assert media["TrustedKeyGroups"] == [ref(dev.logical_id("Delivery/KeyGroup"))]
    assert media["ViewerProtocolPolicy"] == "https-only"
    assert media["AllowedMethods"] == ["GET", "HEAD", "OPTIONS"]
    s3_origin = origins[media["TargetOriginId"]]
    assert refs(s3_origin["DomainName"]) == {dev.logical_id("Storage/Media")}
    assert s3_origin["OriginAccessControlId"] == {"Fn::GetAtt": [dev.logical_id("Delivery/Oac"), "Id"]}
    assert s3_origin["S3OriginConfig"].get("OriginAccessIdentity", "") == ""
    oac = dev.props("AWS::CloudFront::OriginAccessControl")["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"], oac["SigningProtocol"]) == (
        "s3", "always", "sigv4")  # fmt: skip
    # The bucket admits CloudFront only for this distribution, and only reads; it stays private.
    policy = dev.template["Resources"][dev.logical_id("Storage/Media/Policy")]["Properties"]["PolicyDocument"]
    (grant,) = [s for s in policy["Statement"] if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}]
    assert grant["Action"] == "s3:GetObject"
    assert refs(grant["Condition"]["StringEquals"]["AWS:SourceArn"]) == {
        dev.logical_id("Delivery/Distribution"), "AWS::Partition", "AWS::AccountId"}  # fmt: skip
    block = dev.template["Resources"][dev.logical_id("Storage/Media")]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block.values())
    # SSE-KMS objects: the key lets CloudFront decrypt for this account's distributions only.
    key_policy = dev.props("AWS::KMS::Key")["KeyPolicy"]["Statement"]
    (kms,) = [s for s in key_policy if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}]
    assert kms["Action"] == "kms:Decrypt" and ":distribution/*" in text(kms["Condition"])
    assert config["Logging"]["Prefix"] == "cloudfront/"
    assert refs(config["Logging"]["Bucket"]) == {dev.logical_id("Storage/AccessLogs")}
    logs = dev.template["Resources"][dev.logical_id("Storage/AccessLogs")]["Properties"]
    assert logs["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerPreferred"}]  # ACL delivery


def test_signing_key_pair_lives_in_secrets_manager(dev) -> None:
    public = dev.props("AWS::CloudFront::PublicKey")["PublicKeyConfig"]
    pair_id = dev.logical_id("Delivery/KeyPair/Default")
    assert public["EncodedKey"] == {"Fn::GetAtt": [pair_id, "PublicKey"]} and public["Name"] == "media-signing-dev"
    group = dev.props("AWS::CloudFront::KeyGroup")["KeyGroupConfig"]
    assert group["Items"] == [ref(dev.logical_id("Delivery/PublicKey"))] and group["Name"] == "media-dev"
    pair = dev.template["Resources"][pair_id]
    assert pair["Type"] == "Custom::CloudFrontKeyPair"
    assert pair["Properties"]["SecretId"] == ref(dev.logical_id("Delivery/SigningKey"))
    secret = dev.template["Resources"][dev.logical_id("Delivery/SigningKey")]["Properties"]
    assert refs(secret["KmsKeyId"]) == {dev.logical_id("Encryption/Key")}
    function = dev.template["Resources"][dev.logical_id("Delivery/KeyPairFunction")]["Properties"]
    assert function["FunctionName"] == "cdn-key-pair-dev" and function["Runtime"].startswith("nodejs")
    assert "generateKeyPairSync" in function["Code"]["ZipFile"]
    # No private key material anywhere in the template, and no key in an output.
    assert "PRIVATE KEY" not in json.dumps(dev.template).replace('BEGIN PRIVATE KEY-----\'', "")
    assert not [o for o in dev.template["Outputs"].values() if "KeyPair" in text(o["Value"])]


def test_playback_route_reaches_the_api_and_signed_file_urls_reach_the_bucket(dev) -> None:
    """What HLS through CloudFront relies on (vidpipe/api/cdn_play.py, docs/deploy.md): the API's signed route
    `/v1/play/...` on the distribution's domain goes to the API tasks, and the file URLs the API signs
    (`https://{domain}/{VIDPIPE_S3_PREFIX}{key}`) fall under the media behaviour, cached without their query."""
    from fnmatch import fnmatchcase

    from aws_cdk import aws_cloudfront as cloudfront

    config = _distribution(dev)
    (media,) = config["CacheBehaviors"]
    api_env = next({e["Name"]: e["Value"] for e in c["Environment"]}
                   for t in dev.resources("AWS::ECS::TaskDefinition").values()
                   if t["Properties"]["Family"] == "vidpipe-api-dev"
                   for c in t["Properties"]["ContainerDefinitions"] if c["Name"] == "api")  # fmt: skip
    prefix = api_env["VIDPIPE_S3_PREFIX"]
    assert media["PathPattern"] == f"{prefix}*"  # the signer's resource prefix is exactly what CloudFront serves
    assert api_env["VIDPIPE_CLOUDFRONT_DOMAIN"] == {"Fn::GetAtt": [dev.logical_id("Delivery/Distribution"),
                                                                   "DomainName"]}  # fmt: skip
    # No behaviour but the default (the VPC origin, no key group) takes the route: players reach it unsigned
    # by CloudFront, and the API checks the token in the path.
    route = "v1/play/1764741600.aGxzLw.x/0b7a3c9e-2f51-4d8e-9a61-3f2c1d0e5b47/hls/master.m3u8"
    assert not [b for b in config["CacheBehaviors"] if fnmatchcase(route, b["PathPattern"])]
    origins = {o["Id"]: o for o in config["Origins"]}
    assert "VpcOriginConfig" in origins[config["DefaultCacheBehavior"]["TargetOriginId"]]
    assert "TrustedKeyGroups" not in config["DefaultCacheBehavior"]
    # AllViewer forwards Accept-Encoding, so the API can gzip the rewritten playlists (the signature repeats).
    assert config["DefaultCacheBehavior"]["OriginRequestPolicyId"] == \
        cloudfront.OriginRequestPolicy.ALL_VIEWER.origin_request_policy_id  # fmt: skip
    # Every viewer's file URLs differ only in the query: CachingOptimized keeps it out of the cache key, so
    # one edge copy of a segment serves all of them; CORS for hls.js on any origin.
    assert media["CachePolicyId"] == cloudfront.CachePolicy.CACHING_OPTIMIZED.cache_policy_id
    cors = cloudfront.ResponseHeadersPolicy.CORS_ALLOW_ALL_ORIGINS
    assert media["ResponseHeadersPolicyId"] == cors.response_headers_policy_id


def test_console_reaches_the_api_tasks_through_a_vpc_origin(dev) -> None:
    config = _distribution(dev)
    default = config["DefaultCacheBehavior"]
    origins = {o["Id"]: o for o in config["Origins"]}
    console = origins[default["TargetOriginId"]]
    vpc_origin_id = console["VpcOriginConfig"]["VpcOriginId"]
    assert refs(vpc_origin_id) == {dev.logical_id("Delivery/Distribution/Origin1/VpcOrigin")}
    endpoint = dev.props("AWS::CloudFront::VpcOrigin")["VpcOriginEndpointConfig"]
    assert endpoint["Arn"] == ref(dev.logical_id("Compute/Nlb"))
    assert (endpoint["HTTPPort"], endpoint["OriginProtocolPolicy"]) == (80, "http-only")
    assert endpoint["Name"] == "console-dev"
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
    assert default["OriginRequestPolicyId"] == "216adef6-5c7f-47e4-b989-5492eafa07d3"  # AllViewer (cookies, Host)
    assert "TrustedKeyGroups" not in default
    # API Gateway keeps demanding a key on every method (the console does not go through it).
    assert all(m["Properties"]["ApiKeyRequired"] for m in dev.resources("AWS::ApiGateway::Method").values())


def test_database_password_rotates_with_the_rds_single_user_rotation(dev) -> None:
    schedules = {s["Properties"]["SecretId"]["Ref"]: s["Properties"]
                 for s in dev.resources("AWS::SecretsManager::RotationSchedule").values()}  # fmt: skip
    db = schedules[dev.logical_id("Database/Secret/Attachment")]
    assert db["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    app_id, app = dev.one("AWS::Serverless::Application")
    assert db["RotationLambdaARN"] == {"Fn::GetAtt": [app_id, "Outputs.RotationLambdaARN"]}
    mapping = dev.template["Mappings"]
    assert "SecretsManagerRDSPostgreSQLRotationSingleUser" in text(mapping)
    params = app["Properties"]["Parameters"]
    assert refs(params["vpcSubnetIds"]) == {k for k in dev.resources("AWS::EC2::Subnet") if "private" in k}
    assert refs(params["vpcSecurityGroupIds"]) == {dev.logical_id("Database/RotationSg")}


def test_redis_token_rotates_through_modify_replication_group(dev) -> None:
    schedules = {s["Properties"]["SecretId"]["Ref"]: s["Properties"]
                 for s in dev.resources("AWS::SecretsManager::RotationSchedule").values()}  # fmt: skip
    redis = schedules[dev.logical_id("Cache/AuthToken")]
    function_id = dev.logical_id("Cache/Rotation/Function")
    assert redis["RotationLambdaARN"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert redis["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    function = dev.template["Resources"][function_id]["Properties"]
    assert function["Environment"]["Variables"] == {"REPLICATION_GROUP_ID": "redis-dev"}
    assert 'AuthTokenUpdateStrategy="ROTATE"' in function["Code"]["ZipFile"]
    from .cfn import statements

    sids = {st.get("Sid"): st for st in statements(dev.template, dev.logical_id("Cache/Rotation/Role"))}
    assert set(sids["SetToken"]["Action"]) == {"elasticache:ModifyReplicationGroup",
                                               "elasticache:DescribeReplicationGroups"}  # fmt: skip
    assert "replicationgroup:redis-dev" in text(sids["SetToken"]["Resource"])
    assert refs(sids["RotateSecret"]["Resource"]) == {dev.logical_id("Cache/AuthToken")}
    permission = next(p["Properties"] for p in dev.resources("AWS::Lambda::Permission").values()
                      if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]})  # fmt: skip
    assert permission["Principal"] == "secretsmanager.amazonaws.com"
    assert permission["SourceArn"] == ref(dev.logical_id("Cache/AuthToken"))


def test_seed_parameters(dev, prod) -> None:
    def params(synth) -> dict[str, dict]:
        return {p["Properties"]["Name"]: p["Properties"] for p in synth.resources("AWS::SSM::Parameter").values()}

    bare = params(prod)
    assert bare["/videopgvector/ecs-cluster-name"]["Value"] == ref(prod.logical_id("Compute/Cluster"))
    assert bare["/videopgvector/ecs-vpc-id"]["Value"] == ref(prod.logical_id("Network/Vpc"))
    suffixed = params(dev)
    assert suffixed["/videopgvector/ecs-cluster-name-dev"]["Value"] == ref(dev.logical_id("Compute/Cluster"))
    assert suffixed["/videopgvector/ecs-vpc-id-dev"]["Value"] == ref(dev.logical_id("Network/Vpc"))
    assert not [n for n in suffixed if n.startswith("/videopgvector/") and not n.endswith("-dev")]


def test_tap_stack_is_the_entry(dev) -> None:
    from lib.tap_stack import TapStack
    from vidpipe_infra.stack import VidpipeStack

    assert isinstance(dev.stack, TapStack) and issubclass(TapStack, VidpipeStack)
    assert json.loads((INFRA / "cdk.json").read_text())["app"] == "python3 tap.py"
    tap = (INFRA / "tap.py").read_text()
    assert "from vidpipe_infra.app import build_app" in tap and "build_app().synth()" in tap
