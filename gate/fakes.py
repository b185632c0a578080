"""Plausible provider-computed values for mocks that run with known outputs.

Only used when ``run_program(unknown_computed=False)``: tests that check exports
(endpoints, ARNs, the ``rds-db:connect`` resource) need values shaped like the
real ones.  Values are derived from the resource name so runs are repeatable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def _hex(name: str, length: int) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:length]


# type token -> (ARN service, ARN resource prefix, id prefix)
_ARN_SHAPES: dict[str, tuple[str, str, str]] = {
    "aws:rds/instance:Instance": ("rds", "db:", ""),
    "aws:rds/proxy:Proxy": ("rds", "db-proxy:prx-", ""),
    "aws:rds/parameterGroup:ParameterGroup": ("rds", "pg:", ""),
    "aws:rds/subnetGroup:SubnetGroup": ("rds", "subgrp:", ""),
    "aws:kms/key:Key": ("kms", "key/", ""),
    "aws:secretsmanager/secret:Secret": ("secretsmanager", "secret:", ""),
    "aws:iam/role:Role": ("iam", "role/", ""),
    "aws:iam/policy:Policy": ("iam", "policy/", ""),
    "aws:sns/topic:Topic": ("sns", "", ""),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("cloudwatch", "alarm:", ""),
    "aws:lambda/function:Function": ("lambda", "function:", ""),
    "aws:lambda/layerVersion:LayerVersion": ("lambda", "layer:", ""),
    "aws:ec2/securityGroup:SecurityGroup": ("ec2", "security-group/", "sg-"),
    "aws:ec2/vpc:Vpc": ("ec2", "vpc/", "vpc-"),
    "aws:ec2/subnet:Subnet": ("ec2", "subnet/", "subnet-"),
}

_GLOBAL_SERVICES = {"iam"}


def fake_outputs(type_: str, name: str, inputs: Mapping[str, Any], region: str, account_id: str) -> tuple[str, dict[str, Any]]:
    """Return ``(id, computed outputs)`` for a resource of *type_* named *name*."""
    service, arn_prefix, id_prefix = _ARN_SHAPES.get(type_, ("", "", ""))
    # Physical names: honour an explicit name/identifier input, else Pulumi's auto-naming shape.
    physical = str(inputs.get("identifier") or inputs.get("name") or f"{name}-{_hex(name, 7)}")
    outputs: dict[str, Any] = {}
    resource_id = f"{id_prefix}{_hex(name, 17)}" if id_prefix else physical

    if type_ == "aws:rds/proxy:Proxy":
        proxy_resource = _hex(name, 26)
        outputs["arn"] = f"arn:aws:rds:{region}:{account_id}:db-proxy:prx-{proxy_resource}"
        outputs["endpoint"] = f"{physical}.proxy-{_hex(name, 12)}.{region}.rds.amazonaws.com"
        outputs["name"] = physical
        return physical, outputs
    if type_ == "aws:rds/instance:Instance":
        host = f"{physical}.{_hex('cluster', 12)}.{region}.rds.amazonaws.com"
        outputs.update(
            identifier=physical,
            address=host,
            endpoint=f"{host}:5432",
            port=5432,
            resourceId=f"db-{_hex(name, 26).upper()}",
            arn=f"arn:aws:rds:{region}:{account_id}:db:{physical}",
        )
        if inputs.get("manageMasterUserPassword"):
            # The RDS-managed master secret: "rds!db-<uuid>" plus Secrets Manager's 6-character suffix, under
            # the chosen key or the AWS managed aws/secretsmanager key.
            uuid = f"{_hex(name, 8)}-{_hex(name + 'a', 4)}-{_hex(name + 'b', 4)}-{_hex(name + 'c', 4)}-{_hex(name, 12)}"
            aws_managed = f"arn:aws:kms:{region}:{account_id}:key/{_hex('aws/secretsmanager', 8)}-0000-0000-0000-000000000000"
            outputs["masterUserSecrets"] = [
                {
                    "secretArn": f"arn:aws:secretsmanager:{region}:{account_id}:secret:rds!db-{uuid}-{_hex(name, 6)}",
                    "kmsKeyId": inputs.get("masterUserSecretKmsKeyId") or aws_managed,
                    "secretStatus": "active",
                }
            ]
        return physical, outputs
    if type_ == "aws:kms/key:Key":
        key_id = f"{_hex(name, 8)}-{_hex(name + '1', 4)}-{_hex(name + '2', 4)}-{_hex(name + '3', 4)}-{_hex(name, 12)}"
        outputs.update(keyId=key_id, arn=f"arn:aws:kms:{region}:{account_id}:key/{key_id}")
        return key_id, outputs
    if type_ == "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup":
        # The default target group of every proxy is named "default".
        outputs.update(name="default", arn=f"arn:aws:rds:{region}:{account_id}:target-group:prx-tg-{_hex(name, 26)}")
        return str(inputs.get("dbProxyName") or name), outputs
    if type_ == "random:index/randomPassword:RandomPassword":
        length = int(inputs.get("length", 32))
        outputs["result"] = ("Fake" + _hex(name, 64))[:length]
        return name, outputs

    if service:
        scope_region = "" if service in _GLOBAL_SERVICES else region
        outputs["arn"] = f"arn:aws:{service}:{scope_region}:{account_id}:{arn_prefix}{physical}"
        if "name" not in inputs and type_ not in ("aws:ec2/subnet:Subnet", "aws:ec2/vpc:Vpc"):
            outputs["name"] = physical
    outputs["id"] = resource_id
    return resource_id, outputs
