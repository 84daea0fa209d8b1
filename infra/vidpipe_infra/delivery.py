"""Delivery: CloudFront in front of the media bucket (signed URLs, origin access control) and the web console.

Players load playlists from the API's signed route `https://{distribution}/v1/play/{token}/...` (the default
behaviour below), which rewrites every file URI in them into a CloudFront signed URL
`https://{distribution}/media/...` (vidpipe/api/cdn_play.py): segments come from S3 through this distribution,
never through the API. The signing key pair is generated once by a small custom resource into Secrets Manager
(the private key never appears in the template, a log or an output) and its public half becomes the
distribution's key group. Every other path goes to the API tasks through a CloudFront VPC origin on the
internal NLB, which is how a browser reaches the console (API Gateway demands an x-api-key header on every
method, which a browser session does not carry; the app authenticates console and API callers itself).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from .compliance import acknowledge, checkov_skip
from .config import log_retention

MEDIA_PREFIX = "media/"  # VIDPIPE_S3_PREFIX: every object the app writes, and the only path CloudFront signs for
PLAYBACK_URL_TTL_SECONDS = 21600
KEY_PAIR_CODE = Path(__file__).with_name("lambdas") / "cloudfront_key_pair.js"
LAMBDA_SKIPS = {
    "CKV_AWS_115": "Runs once per deploy as a CloudFormation custom resource: a concurrency cap protects nothing.",
    "CKV_AWS_116": "Invoked synchronously by CloudFormation, which reports failures in the stack events; a DLQ "
                   "would stay empty.",
    "CKV_AWS_117": "Calls only the Secrets Manager API and the CloudFormation response URL; outside the VPC it "
                   "needs no NAT or endpoint.",
}  # fmt: skip


class Delivery(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        suffix: str,
        key: kms.IKey,
        bucket: s3.IBucket,
        log_bucket: s3.IBucket,
        load_balancer: elbv2.INetworkLoadBalancer,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.signing_key = secretsmanager.Secret(
            self,
            "SigningKey",
            description=f"vidpipe {suffix}: private key (PEM) that signs CloudFront playback URLs",
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.signing_key,
            "AwsSolutions-SMG4",
            "A CloudFront signing key is rotated by adding a second public key to the key group, redeploying the "
            "API with it, then removing the first (docs/deploy.md); a scheduled Lambda cannot do that safely.",
        )
        public_pem = self._key_pair(suffix, key, log_retention_days)
        self.public_key = cloudfront.PublicKey(
            self,
            "PublicKey",
            public_key_name=f"media-signing-{suffix}",
            comment=f"vidpipe {suffix}: verifies signed playback URLs",
            encoded_key=public_pem,
        )
        self.key_group = cloudfront.KeyGroup(
            self, "KeyGroup", key_group_name=f"media-{suffix}", items=[self.public_key],
            comment=f"vidpipe {suffix}: keys trusted for media URLs",
        )  # fmt: skip
        media = cloudfront.BehaviorOptions(
            origin=origins.S3BucketOrigin.with_origin_access_control(
                bucket,
                origin_access_levels=[cloudfront.AccessLevel.READ],
                origin_access_control=cloudfront.S3OriginAccessControl(
                    self, "Oac", origin_access_control_name=f"media-oac-{suffix}",
                    signing=cloudfront.Signing.SIGV4_ALWAYS,
                ),  # fmt: skip
            ),
            trusted_key_groups=[self.key_group],
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
            cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
            # hls.js and dash.js fetch segments with XHR from the player's own origin.
            response_headers_policy=cloudfront.ResponseHeadersPolicy.CORS_ALLOW_ALL_ORIGINS,
            compress=False,  # video segments do not compress; playlists are tiny
        )
        console = cloudfront.BehaviorOptions(
            origin=origins.VpcOrigin.with_network_load_balancer(
                load_balancer,
                vpc_origin_name=f"console-{suffix}",
                http_port=80,
                protocol_policy=cloudfront.OriginProtocolPolicy.HTTP_ONLY,  # a hop inside the VPC, like the VPC link
                read_timeout=Duration.seconds(60),  # chunked uploads and the live event stream
            ),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            # Host included: the app checks a browser's Origin against it (CSRF) and builds URLs from it.
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"cdn-{suffix}: vidpipe media (signed) and web console",
            default_behavior=console,
            additional_behaviors={f"{MEDIA_PREFIX}*": media},
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True,
            log_bucket=log_bucket,
            log_file_prefix="cloudfront/",
        )
        self.domain_name = self.distribution.distribution_domain_name
        for rule, reason in (
            ("AwsSolutions-CFR1", "Media rights in this platform are not regional; a geo restriction would only "
                                  "block legitimate viewers. Add one per distribution when a licence requires it."),
            ("AwsSolutions-CFR2", "Media paths need a valid CloudFront signature (key group) and console paths reach "
                                  "the app's own authentication; a WAF (about $6/month plus requests) is an opt-in "
                                  "for prod, as for the API (docs/deploy.md)."),
            ("AwsSolutions-CFR4", "Without a custom domain CloudFront serves its default *.cloudfront.net certificate, "
                                  "whose minimum protocol it fixes itself; with a domain and an ACM certificate set "
                                  "TLSv1.2_2021 (docs/deploy.md)."),
        ):
            acknowledge(self.distribution, rule, reason)
        checkov_skip(self.distribution, "CKV_AWS_68", "WAF is an opt-in for prod (see AwsSolutions-CFR2 in the code).")
        checkov_skip(self.distribution, "CKV_AWS_174", "The default CloudFront certificate fixes the minimum TLS "
                                                       "version; a custom domain sets TLSv1.2_2021 (docs/deploy.md).")

    def _key_pair(self, suffix: str, key: kms.IKey, log_retention_days: int) -> str:
        """The public half (PEM) of an RSA key pair whose private half the custom resource writes to the secret."""
        group = logs.LogGroup(
            self,
            "KeyPairLogs",
            log_group_name=f"/vidpipe/{suffix}/cdn-key-pair",
            retention=log_retention(log_retention_days),
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            "KeyPairRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"vidpipe {suffix}: writes the CloudFront signing key pair into its secret",
        )
        for sid, actions, resources in (
            ("WriteLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [group.log_group_arn]),
            ("KeyPairSecret", ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
             [self.signing_key.secret_arn]),
            ("EncryptSecret", ["kms:Decrypt", "kms:GenerateDataKey"], [key.key_arn]),
        ):  # fmt: skip
            role.add_to_principal_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))
        function = lambda_.Function(
            self,
            "KeyPairFunction",
            function_name=f"cdn-key-pair-{suffix}",
            description=f"vidpipe {suffix}: CloudFront signing key pair (custom resource)",
            runtime=lambda_.Runtime.NODEJS_24_X,
            handler="index.handler",
            code=lambda_.Code.from_inline(KEY_PAIR_CODE.read_text()),
            timeout=Duration.seconds(60),
            memory_size=256,
            role=role,
            log_group=group,
        )
        for check, reason in LAMBDA_SKIPS.items():
            checkov_skip(function, check, reason)
        checkov_skip(function, "CKV_AWS_173", "No environment variables are set on this function.")
        pair = CustomResource(
            self,
            "KeyPair",
            service_token=function.function_arn,
            resource_type="Custom::CloudFrontKeyPair",
            properties={"SecretId": self.signing_key.secret_arn},
            removal_policy=RemovalPolicy.DESTROY,
        )
        return pair.get_att_string("PublicKey")
