"""API: an API Gateway REST API in front of the API service, reached through a VPC link to its NLB."""

from __future__ import annotations

from aws_cdk import Aws, Fn, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from .compliance import acknowledge, checkov_skip
from .config import log_retention

STAGE = "v1"


class Api(Construct):
    """Every method needs an API key (kept in Secrets Manager); a usage plan throttles and caps callers."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        suffix: str,
        load_balancer: elbv2.INetworkLoadBalancer,
        key: kms.IKey,
        rate_limit: int,
        burst_limit: int,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            log_group_name=f"/vidpipe/{suffix}/api-gateway-access",
            retention=log_retention(log_retention_days),
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.vpc_link = apigw.VpcLink(self, "VpcLink", vpc_link_name=f"vpclink-{suffix}", targets=[load_balancer])
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"vidpipe-api-{suffix}",
            description=f"vidpipe {suffix}: ingest, search and playback API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # API Gateway needs an account-level role to write logs; this one is removed with the stack.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                throttling_rate_limit=rate_limit,
                throttling_burst_limit=burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
            ),
            default_method_options=apigw.MethodOptions(api_key_required=True),
        )
        # The stage's own URL, built from the API's id and the literal stage name: referencing the Stage resource
        # would make every task definition wait for the deployment.
        self.stage_url = Fn.join("", ["https://", self.rest_api.rest_api_id, ".execute-api.", Aws.REGION, ".",
                                      Aws.URL_SUFFIX, f"/{STAGE}"])  # fmt: skip
        validator = self.rest_api.add_request_validator(
            "Validator", request_validator_name=f"validate-{suffix}", validate_request_parameters=True,
            validate_request_body=True,
        )

        def proxy(path: str) -> apigw.Integration:
            return apigw.Integration(
                type=apigw.IntegrationType.HTTP_PROXY,
                integration_http_method="ANY",
                uri=f"http://{load_balancer.load_balancer_dns_name}{path}",
                options=apigw.IntegrationOptions(
                    connection_type=apigw.ConnectionType.VPC_LINK,
                    vpc_link=self.vpc_link,
                    request_parameters=(
                        {"integration.request.path.proxy": "method.request.path.proxy"} if "{proxy}" in path else None
                    ),
                ),
            )

        self.rest_api.root.add_method("ANY", proxy("/"), request_validator=validator)
        self.rest_api.root.add_resource("{proxy+}").add_method(
            "ANY",
            proxy("/{proxy}"),
            request_parameters={"method.request.path.proxy": True},
            request_validator=validator,
        )

        # The key value is generated into Secrets Manager and reaches API Gateway as a dynamic reference.
        self.api_key_secret = secretsmanager.Secret(
            self,
            "ApiKeySecret",
            description=f"vidpipe {suffix}: API key for callers (x-api-key header)",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=40, exclude_punctuation=True, include_space=False
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        api_key = self.rest_api.add_api_key(
            "Key", api_key_name=f"api-key-{suffix}", value=self.api_key_secret.secret_value.unsafe_unwrap()
        )
        plan = self.rest_api.add_usage_plan(
            "Plan",
            name=f"usage-plan-{suffix}",
            throttle=apigw.ThrottleSettings(rate_limit=rate_limit, burst_limit=burst_limit),
            quota=apigw.QuotaSettings(limit=rate_limit * 86_400 // 10, period=apigw.Period.DAY),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)],
        )
        plan.add_api_key(api_key)

        acknowledge(
            self.api_key_secret,
            "AwsSolutions-SMG4",
            "An API key is handed to callers out of band; rotating it is a coordinated change with them, done "
            "by adding a second key to the usage plan, not by a scheduled Lambda.",
        )
        for rule, reason in (
            (
                "AwsSolutions-APIG4",
                "Every method requires an API key bound to a usage plan; the app authorises callers itself "
                "(its AuthError family). An IAM or Cognito authorizer would not fit machine callers of an ingest API.",
            ),
            (
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                "The account-level role API Gateway needs to write access logs; assumable only by "
                "apigateway.amazonaws.com, and the AWS-maintained policy only writes CloudWatch Logs.",
            ),
            ("AwsSolutions-COG4", "No Cognito user pool: callers are services holding API keys (see APIG4)."),
            (
                "AwsSolutions-APIG3",
                "No WAF web ACL in this stack: the API is key-gated and throttled per key and per stage; a "
                "WAF (about $6/month plus requests) is an opt-in for internet-facing prod (docs/deploy.md).",
            ),
        ):
            acknowledge(self.rest_api, rule, reason)
        checkov_skip(
            self.rest_api.deployment_stage,
            "CKV_AWS_120",
            "Responses are per-caller and change as jobs progress; a stage cache would serve stale job states.",
        )
