"""Consumers: the stack's own clients connect through RDS Proxy, not to the database behind it.

The outage this project exists to stop began with clients that bypassed pooling.  Security
groups catch that from the database side; this module catches it from the client side, in the
two places a stack wires a client to its database:

* ``aws.lambda.Function``: ``environment.variables`` (a map of strings);
* ``aws.ecs.TaskDefinition``: ``containerDefinitions`` (a JSON string; each container's
  ``environment`` list of ``{name, value}``; ``secrets`` carry credentials, not addresses).

A client is judged against the databases an RDS Proxy of the stack fronts (the writer: a primary
instance or a cluster a ``ProxyTarget`` names).  Read replicas are the read path (RDS Proxy cannot
target a replica of an instance) and never count as a bypass.

The verdict must be the same before and after deploy, when the address is unknown and when it is
known.  So it is taken from what every shape carries:

* property dependencies: the client's setting was computed from a fronted database and from no
  proxy or proxy endpoint (and names no proxy host literally) -> it connects to the database;
* literal RDS host names of a fronted database (``<identifier>.<id>.<region>.rds.amazonaws.com``,
  a cluster's writer ``<cluster>.cluster-<id>...``) in a setting not computed from that database.

A Lambda function with no variable that names a host (``HOST``, ``ENDPOINT``, ``URL``, ...) opens
no connection from its environment and is not judged (an operations function may carry the
instance's ARN to take snapshots).  Which IAM resource (``prx-`` or ``db-``) client roles may
``rds-db:connect`` to is the IAM rules' business.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import ReportViolation, Severity

from .network import attached_groups, group_ids, network_view
from .policy_factory import Config, stack_policy
from .property_values import as_list, is_unknown, json_of
from .rds_lookups import is_replica, proxy_links
from .resource_types import CLUSTER, ECS_TASK_DEFINITION, INSTANCE, LAMBDA_FUNCTION, PROXY, PROXY_ENDPOINT, SECURITY_GROUP
from .stack_index import Res, StackIndex

#: The property of each client type that carries its connection settings.
_SETTINGS_PROPERTY = {LAMBDA_FUNCTION: "environment", ECS_TASK_DEFINITION: "containerDefinitions"}

#: Variable names that say "this is where to connect".
_HOST_NAME = re.compile(r"HOST|ENDPOINT|ADDR|URL|URI|DSN|SERVER|CONN", re.IGNORECASE)

#: An RDS DNS name: first label, second label, region.  Proxies: ``<name>.proxy-<id>``; cluster writer
#: ``<id>.cluster-<id>``, reader ``cluster-ro-``, custom ``cluster-custom-``; instances ``<id>.<id>``.
_RDS_HOST = re.compile(r"([a-z0-9-]+)\.([a-z0-9-]+)\.[a-z0-9-]+\.rds\.amazonaws\.com(\.cn)?", re.IGNORECASE)


@dataclass
class Client:
    """One client resource and the settings it connects with."""

    res: Res
    prop: str
    #: Variable name -> value (a string, or UNKNOWN); empty when the whole setting is unknown.
    variables: dict[str, Any] = field(default_factory=dict)
    #: False when the setting itself is unknown (a JSON string built from unknown outputs).
    readable: bool = True


def _lambda_client(res: Res) -> Client:
    env = res.props.get("environment")
    if is_unknown(env):
        return Client(res, "environment", readable=False)
    variables = env.get("variables") if isinstance(env, dict) else None
    if is_unknown(variables):
        return Client(res, "environment", readable=False)
    return Client(res, "environment", dict(variables) if isinstance(variables, dict) else {})


def _ecs_client(res: Res) -> Client:
    containers = json_of(res.props.get("containerDefinitions"), list)
    if containers is None:
        return Client(res, "containerDefinitions", readable=False)
    variables: dict[str, Any] = {}
    for container in containers:
        if not isinstance(container, dict):
            continue
        cname = container.get("name") if isinstance(container.get("name"), str) else "?"
        for item in as_list(container.get("environment")):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                variables[f"{cname}/{item['name']}"] = item.get("value")
    return Client(res, "containerDefinitions", variables)


def _clients(index: StackIndex) -> Iterable[Client]:
    for res in index.of_type(LAMBDA_FUNCTION):
        yield _lambda_client(res)
    for res in index.of_type(ECS_TASK_DEFINITION):
        yield _ecs_client(res)


@dataclass
class Fronted:
    """A writer database that an RDS Proxy of the stack targets."""

    db: Res
    proxy: Res

    def identifier(self) -> str | None:
        key = "identifier" if self.db.type == INSTANCE else "clusterIdentifier"
        value = self.db.props.get(key)
        return value.lower() if isinstance(value, str) and value else None

    def matches_host(self, first: str, second: str) -> bool:
        """Whether an RDS host name ``first.second.<region>.rds.amazonaws.com`` is this database's writer."""
        ident = self.identifier()
        if ident is None or first.lower() != ident:
            return False
        second = second.lower()
        if self.db.type == CLUSTER:
            return second.startswith("cluster-") and not second.startswith(("cluster-ro-", "cluster-custom-"))
        return not second.startswith(("proxy-", "cluster-"))


def _fronted(index: StackIndex) -> dict[str, Fronted]:
    out: dict[str, Fronted] = {}
    for link in proxy_links(index):
        db = link.instance or link.cluster
        if link.proxy is None or db is None or (db.type == INSTANCE and is_replica(db.props)):
            continue
        out.setdefault(db.urn, Fronted(db, link.proxy))
    return out


def _names_proxy_host(values: Iterable[Any]) -> bool:
    for value in values:
        if isinstance(value, str):
            for match in _RDS_HOST.finditer(value):
                if match.group(2).lower().startswith("proxy-"):
                    return True
    return False


def _bypasses(index: StackIndex, client: Client, fronted: dict[str, Fronted]) -> list[tuple[Fronted, str]]:
    """The fronted databases *client* connects to directly, each with how that was seen."""
    deps = client.res.deps(client.prop)
    dep_types = {index.by_urn[u].type for u in deps if u in index.by_urn}
    found: dict[str, tuple[Fronted, str]] = {}
    values = list(client.variables.values())
    # A Lambda whose environment names no host opens no connection from it (shape-independent: the
    # variable names are known even when their values are not).
    judged = (
        client.res.type != LAMBDA_FUNCTION or not client.readable or any(_HOST_NAME.search(name) for name in client.variables)
    )
    if judged and not ({PROXY, PROXY_ENDPOINT} & dep_types) and not _names_proxy_host(values):
        for urn in deps:
            if urn in fronted:
                found[urn] = (fronted[urn], f"its {client.prop} is computed from {fronted[urn].db.label}")
    for value in values:
        if not isinstance(value, str):
            continue
        for match in _RDS_HOST.finditer(value):
            for urn, item in fronted.items():
                if urn in deps or urn in found:
                    continue  # computed from the database: judged by the dependency above, in every shape
                if item.matches_host(match.group(1), match.group(2)):
                    found[urn] = (item, f"its {client.prop} names the host {match.group(0)}")
    return list(found.values())


def _check_through_proxy(index: StackIndex, config: Config, report: ReportViolation) -> None:
    fronted = _fronted(index)
    if not fronted:
        return
    for client in _clients(index):
        for item, how in _bypasses(index, client, fronted):
            report(
                f"{client.res.label} connects to {item.db.label} directly ({how}), although {item.proxy.label} "
                "fronts it. Clients that bypass the proxy open their own connections, exhaust max_connections and "
                f"wait out the whole failover; point the client at the proxy's endpoint ({item.proxy.label}.endpoint).",
                client.res.urn,
            )


# --- client-in-proxy-vpc ----------------------------------------------------------------------------


def _uses_proxy(index: StackIndex, client: Client) -> Res | None:
    for urn in client.res.deps(client.prop):
        dep = index.by_urn.get(urn)
        if dep is not None and dep.type in (PROXY, PROXY_ENDPOINT):
            return dep
    return None


def _check_in_vpc(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for res in index.of_type(LAMBDA_FUNCTION):
        client = _lambda_client(res)
        proxy = _uses_proxy(index, client)
        literal = _names_proxy_host(client.variables.values())
        if proxy is None and not literal:
            continue
        vpc = res.props.get("vpcConfig")
        if is_unknown(vpc):
            continue
        subnets = vpc.get("subnetIds") if isinstance(vpc, dict) else None
        groups = vpc.get("securityGroupIds") if isinstance(vpc, dict) else None
        if is_unknown(subnets) or is_unknown(groups) or (as_list(subnets) and as_list(groups)):
            continue
        target = proxy.label if proxy is not None else "an RDS Proxy"
        report(
            f"{res.label} connects to {target} but has no vpcConfig with subnets and security groups. RDS Proxy is "
            "reachable only from inside its VPC, so every connection from the function fails; set vpcConfig to "
            "private subnets of the proxy's VPC and a security group the proxy's group admits.",
            res.urn,
        )


# --- proxy-admits-client ----------------------------------------------------------------------------


def _function_groups(index: StackIndex, res: Res, ids: dict[str, Res]) -> tuple[list[Res], bool]:
    """The stack's security groups in a function's vpcConfig, and whether those are all of its groups."""
    vpc = res.props.get("vpcConfig")
    value = vpc.get("securityGroupIds") if isinstance(vpc, dict) else None
    referenced = index.referenced(res, "vpcConfig", SECURITY_GROUP)
    found = {sg.urn: sg for sg in referenced}
    if not isinstance(value, list) or not value:
        return list(found.values()), False
    unexplained = 0
    for item in value:
        if isinstance(item, str) and item in ids:
            found[ids[item].urn] = ids[item]
        else:
            unexplained += 1
    return list(found.values()), unexplained <= len(referenced)


def _check_admits_client(index: StackIndex, config: Config, report: ReportViolation) -> None:
    view = None
    ids = group_ids(index)
    for res in index.of_type(LAMBDA_FUNCTION):
        entry = _uses_proxy(index, _lambda_client(res))
        if entry is None:
            continue
        entry_groups, entry_complete = attached_groups(index, entry, ids)
        fn_groups, fn_complete = _function_groups(index, res, ids)
        if not entry_groups or not entry_complete or not fn_groups or not fn_complete:
            continue  # a group outside the stack (or the default group): its rules are not ours to read
        view = view or network_view(index)
        targets = {sg.urn for sg in entry_groups}
        sources = {sg.urn for sg in fn_groups}
        admitted = any(
            rule.target.urn in targets
            and (
                rule.undetermined
                or rule.cidrs
                or rule.prefix_lists
                or rule.external_groups
                or any(src.urn in sources for src in rule.source_groups)
            )
            for rule in view.ingress
        )
        if not admitted:
            report(
                f"{res.label} connects to {entry.label}, but no security group of {entry.label} admits the function's "
                f"groups ({', '.join(sg.label for sg in fn_groups)}). Every connection from the function times out; "
                "add ingress on the proxy's group from the function's group on the database port.",
                res.urn,
            )


CLIENT_CONNECTS_THROUGH_PROXY = stack_policy(
    "client-connects-through-proxy",
    "The stack's clients (Lambda environment, ECS container environment) connect to the RDS Proxy endpoint, "
    "not to the instance or cluster the proxy fronts; read replicas, which no proxy can front, may be named.",
    (LAMBDA_FUNCTION, ECS_TASK_DEFINITION),
    _check_through_proxy,
    severity=Severity.HIGH,
    remediation="Set the client's host to the proxy's endpoint output instead of the database's address.",
)


CLIENT_IN_PROXY_VPC = stack_policy(
    "client-in-proxy-vpc",
    "Lambda functions that connect to an RDS Proxy run in a VPC (vpcConfig with subnets and security groups).",
    (LAMBDA_FUNCTION,),
    _check_in_vpc,
    severity=Severity.HIGH,
    remediation="Give the function a vpcConfig with the proxy's private subnets and an app security group.",
)


PROXY_ADMITS_CLIENT = stack_policy(
    "proxy-admits-client",
    "A Lambda function that connects to an RDS Proxy (or proxy endpoint) is admitted by a security group of that "
    "proxy: some ingress rule names one of the function's groups.",
    (LAMBDA_FUNCTION,),
    _check_admits_client,
    severity=Severity.HIGH,
    remediation="Add ingress on the proxy's security group from the function's security group.",
)
