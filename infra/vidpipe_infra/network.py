"""Network: a two-AZ VPC (public / private-egress / isolated), NAT, VPC endpoints and flow logs."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from .config import VPC_CIDR, log_retention

# (construct id, service): every AWS API the tasks call from the private subnets.
INTERFACE_ENDPOINTS = (
    ("Ecr", ec2.InterfaceVpcEndpointAwsService.ECR),
    ("EcrDocker", ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER),
    ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
    ("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
    ("Kinesis", ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS),
    ("Sqs", ec2.InterfaceVpcEndpointAwsService.SQS),
    ("Monitoring", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING),
    ("Ecs", ec2.InterfaceVpcEndpointAwsService.ECS),
    ("EcsAgent", ec2.InterfaceVpcEndpointAwsService.ECS_AGENT),
    ("EcsTelemetry", ec2.InterfaceVpcEndpointAwsService.ECS_TELEMETRY),
)


class Network(Construct):
    """The VPC every other unit lives in. Isolated subnets have no route to or from the internet."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        suffix: str,
        nat_gateways: int,
        log_retention_days: int,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)

        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            log_group_name=f"/vidpipe/{suffix}/vpc-flow-logs",
            retention=log_retention(log_retention_days),
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            vpc_name=f"vpc-{suffix}",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=2,
            nat_gateways=nat_gateways,
            restrict_default_security_group=True,
            subnet_configuration=[
                # Only the NAT gateways and nothing else live here; they use Elastic IPs, so no
                # instance needs an automatic public address.
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24, map_public_ip_on_launch=False
                ),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
                ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
            ],
            flow_logs={
                "all": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        Tags.of(self.vpc).add("Name", f"vpc-{suffix}")

        # Gateway endpoint: S3 traffic (media up/downloads, ECR layers) never crosses the NAT.
        s3 = self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        Tags.of(s3).add("Name", f"vpce-s3-{suffix}")
        # Interface endpoints: image pulls, secrets and logs keep working without NAT and stay private, and
        # the workers' steady traffic (Kinesis, SQS, CloudWatch metrics, ECS task protection and the agent)
        # never crosses the NAT gateway, which bills per GB.
        self.endpoint_sg = ec2.SecurityGroup(
            self,
            "EndpointSg",
            vpc=self.vpc,
            security_group_name=f"vpce-{suffix}",
            description="VPC interface endpoints: HTTPS from inside the VPC only",
            allow_all_outbound=False,
        )
        self.endpoint_sg.add_ingress_rule(
            ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443), "HTTPS from inside the VPC"
        )
        self.interface_endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        for name, service in INTERFACE_ENDPOINTS:
            self.interface_endpoints[name] = self.vpc.add_interface_endpoint(
                name,
                service=service,
                private_dns_enabled=True,
                open=False,  # the endpoint security group above already admits the VPC on 443
                security_groups=[self.endpoint_sg],
                subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            )
            Tags.of(self.interface_endpoints[name]).add("Name", f"vpce-{name.lower()}-{suffix}")

    @property
    def private_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)

    @property
    def isolated_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
