"""Rule modules of the resilient-rds policy pack, one per concern; each exports ``POLICIES``."""

from __future__ import annotations

from pulumi_policy import Policy

from . import availability, credentials, iam, keys, monitoring, network, parameters, passwords, proxy, storage_security


def all_policies() -> list[Policy]:
    policies: list[Policy] = []
    for module in (network, availability, parameters, credentials, passwords, iam, keys, proxy, storage_security, monitoring):
        policies.extend(module.POLICIES)
    return policies
