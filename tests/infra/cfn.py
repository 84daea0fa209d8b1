"""Small helpers for reading a synthesized CloudFormation template in tests."""

from __future__ import annotations

import json
from typing import Any


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def refs(value: Any) -> set[str]:
    """Every logical id a value points at through Ref or Fn::GetAtt."""
    found: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if "Ref" in v and isinstance(v["Ref"], str):
                found.add(v["Ref"])
            if "Fn::GetAtt" in v:
                found.add(v["Fn::GetAtt"][0])
            for item in v.values():
                walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)

    walk(value)
    return found


def text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """All identity-policy statements attached to one role (inline policies and AWS::IAM::Policy)."""
    out: list[dict[str, Any]] = []
    for res in template["Resources"].values():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Policy" and ref(role_id) in props.get("Roles", []):
            out += props["PolicyDocument"]["Statement"]
    role = template["Resources"][role_id]["Properties"]
    for policy in role.get("Policies", []):
        out += policy["PolicyDocument"]["Statement"]
    return out


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def tags(resource: dict[str, Any]) -> dict[str, Any] | None:
    raw = resource.get("Properties", {}).get("Tags")
    if raw is None:
        return None
    if isinstance(raw, dict):
        return raw
    return {t["Key"]: t["Value"] for t in raw}
