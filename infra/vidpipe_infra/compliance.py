"""How a unit records a reviewed exception to cdk-nag or checkov, next to the resource it concerns.

cdk-nag 3 reads `Validations.of(construct).acknowledge(...)`; checkov reads the
`checkov: skip:` block of a resource's CloudFormation Metadata. Both carry a reason, and the
tests pin the exact set, so a new exception is a reviewed change rather than a quiet one.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept one cdk-nag finding (e.g. `AwsSolutions-IAM5[Resource::*]`) on `scope` and its children."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def checkov_skip(resource: IConstruct, check_id: str, reason: str) -> None:
    """Skip one checkov check on one CloudFormation resource (an L1, or an L2 whose default child is one)."""
    cfn = resource if isinstance(resource, CfnResource) else resource.node.default_child
    if not isinstance(cfn, CfnResource):
        raise TypeError(f"{resource.node.path} has no CloudFormation resource to annotate")
    meta = cfn.get_metadata("checkov") or {"skip": []}
    meta["skip"] = [*meta["skip"], {"id": check_id, "comment": reason}]
    cfn.add_metadata("checkov", meta)
