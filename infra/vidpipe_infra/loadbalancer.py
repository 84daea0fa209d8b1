"""The API's internal NLB: the target of API Gateway's VPC link and of CloudFront's VPC origin."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from .compliance import acknowledge, checkov_skip
from .config import API_PORT, VPC_CIDR


def api_load_balancer(
    scope: Construct, *, suffix: str, vpc: ec2.IVpc, subnets: ec2.SubnetSelection, service: ecs.FargateService,
    api_sg: ec2.ISecurityGroup,
) -> tuple[elbv2.NetworkLoadBalancer, elbv2.NetworkTargetGroup]:  # fmt: skip
    # API Gateway REST VPC links can only target an NLB; API Gateway terminates TLS and does the
    # HTTP work (throttling, keys, access logs), so an ALB between them would add cost, not function.
    sg = ec2.SecurityGroup(
        scope,
        "NlbSg",
        vpc=vpc,
        security_group_name=f"api-nlb-{suffix}",
        description="API load balancer: from inside the VPC only (CloudFront VPC origin, in-VPC callers)",
        allow_all_outbound=False,
    )
    sg.add_ingress_rule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(80), "VPC link and in-VPC callers")
    nlb = elbv2.NetworkLoadBalancer(
        scope,
        "Nlb",
        load_balancer_name=f"api-nlb-{suffix}",
        vpc=vpc,
        vpc_subnets=subnets,
        internet_facing=False,
        cross_zone_enabled=True,
        security_groups=[sg],
        # The VPC link reaches the NLB over PrivateLink from API Gateway's own network, not from an address in
        # 10.40.0.0/16: with evaluation on, the VPC-range rule above would drop every API request. AWS's guide
        # for REST APIs with a VPC link to an NLB with security groups turns it off; the rule still governs
        # everything else (CloudFront's VPC origin and in-VPC callers).
        enforce_security_group_inbound_rules_on_private_link_traffic=False,
    )
    listener = nlb.add_listener("Tcp", port=80, protocol=elbv2.Protocol.TCP)
    target_group = listener.add_targets(
        "Api",
        target_group_name=f"api-{suffix}",
        port=API_PORT,
        protocol=elbv2.Protocol.TCP,
        targets=[service],
        deregistration_delay=Duration.seconds(30),
        health_check=elbv2.HealthCheck(
            protocol=elbv2.Protocol.HTTP,
            path="/healthz",
            interval=Duration.seconds(15),
            healthy_threshold_count=2,
            unhealthy_threshold_count=3,
        ),
    )
    nlb.connections.allow_to(api_sg, ec2.Port.tcp(API_PORT), "NLB to API tasks (traffic and health checks)")
    acknowledge(
        nlb,
        "AwsSolutions-ELB2",
        "NLBs write access logs only for TLS listeners; this one is a private TCP hop behind API Gateway, "
        "whose access log records every request.",
    )
    checkov_skip(nlb, "CKV_AWS_91", "NLB access logs exist only for TLS listeners; API Gateway logs each request.")
    return nlb, target_group
