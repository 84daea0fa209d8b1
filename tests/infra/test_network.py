"""Network unit: two AZs, three subnet tiers, NAT per profile, endpoints, flow logs."""

from __future__ import annotations

from .cfn import refs, text


def test_vpc_is_named_and_sized(dev) -> None:
    _, vpc = dev.one("AWS::EC2::VPC")
    assert vpc["Properties"]["CidrBlock"] == "10.40.0.0/16"
    assert {"Key": "Name", "Value": "vpc-dev"} in vpc["Properties"]["Tags"]


def test_two_azs_three_tiers(dev) -> None:
    subnets = dev.resources("AWS::EC2::Subnet")
    assert len(subnets) == 6
    tiers = {}
    for props in (s["Properties"] for s in subnets.values()):
        tier = next(t["Value"] for t in props["Tags"] if t["Key"] == "aws-cdk:subnet-name")
        tiers.setdefault(tier, []).append(props)
    assert {k: len(v) for k, v in tiers.items()} == {"public": 2, "private": 2, "isolated": 2}
    for tier in tiers.values():
        azs = {text(p["AvailabilityZone"]) for p in tier}
        assert len(azs) == 2, "each tier spans both AZs"
    assert all(p["MapPublicIpOnLaunch"] is False for p in tiers["public"])


def test_isolated_subnets_have_no_routes_out(dev) -> None:
    isolated_tables = {
        k for k, v in dev.resources("AWS::EC2::RouteTable").items() if "isolated" in k
    }
    assert len(isolated_tables) == 2
    for route in dev.resources("AWS::EC2::Route").values():
        assert not (refs(route["Properties"]["RouteTableId"]) & isolated_tables)


def test_nat_per_profile(dev, prod) -> None:
    assert len(dev.resources("AWS::EC2::NatGateway")) == 1
    assert len(prod.resources("AWS::EC2::NatGateway")) == 2


def test_vpc_endpoints(dev) -> None:
    services = {}
    for ep in dev.resources("AWS::EC2::VPCEndpoint").values():
        props = ep["Properties"]
        name = text(props["ServiceName"])  # a string, or a Join ending in ".s3"
        services[name.rsplit(".", 1)[-1].split('"')[0]] = props
    interface = {"api", "dkr", "secretsmanager", "logs", "kinesis-streams", "sqs", "monitoring", "ecs", "ecs-agent",
                 "ecs-telemetry"}  # fmt: skip
    assert set(services) == {"s3"} | interface
    assert services["s3"]["VpcEndpointType"] == "Gateway"
    private = {k for k in dev.resources("AWS::EC2::Subnet") if "private" in k}
    for name in interface:
        assert refs(services[name]["SubnetIds"]) == private, name
        assert services[name]["VpcEndpointType"] == "Interface"
        assert services[name]["PrivateDnsEnabled"] is True


def test_endpoint_sg_admits_only_vpc_https(dev) -> None:
    sg_id = dev.logical_id("Network/EndpointSg")
    sg = dev.template["Resources"][sg_id]["Properties"]
    assert sg["SecurityGroupIngress"] == [
        {"CidrIp": "10.40.0.0/16", "Description": "HTTPS from inside the VPC", "FromPort": 443, "IpProtocol": "tcp",
         "ToPort": 443}
    ]  # fmt: skip


def test_flow_logs_capture_all_traffic_with_retention(dev) -> None:
    props = dev.props("AWS::EC2::FlowLog")
    assert props["TrafficType"] == "ALL"
    assert props["LogDestinationType"] == "cloud-watch-logs"
    group = dev.template["Resources"][next(iter(refs(props["LogGroupName"])))]["Properties"]
    assert group["LogGroupName"] == "/vidpipe/dev/vpc-flow-logs"
    assert group["RetentionInDays"] == 14
